"""How the portal's transactions own what they decide on, on SQLite and on PostgreSQL.

Recording a result is a read-decide-write: read the attempt and its reports, decide what
the new report changes, write it. The browser return and its webhook arrive together, in
different workers (or servers), so two such transactions must never interleave, or the
second to commit silently undoes the first. `write_transaction` serialises them:

- on SQLite it begins `BEGIN IMMEDIATE`, taking the database's write lock before the first
  read, so that a second writer waits (up to `DATABASE_BUSY_TIMEOUT`) instead of reading a
  state that is about to change;
- on PostgreSQL it takes a transaction-scoped advisory lock, the same single writer's lock
  for recording; readers are never blocked on either database.

Every other transaction on SQLite is left to pysqlite, which begins one (deferred) only at
the first write. SQLAlchemy's recipe for IMMEDIATE turns pysqlite's handling off for every
transaction instead; then each request's first read (the logged-in user) would open a
snapshot, and any later write in that request would fail at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out) whenever another worker had
committed in between. Savepoints are used only inside write transactions, where the
explicit BEGIN IMMEDIATE makes them work under pysqlite's handling too.

One lock for all recording, rather than a lock per attempt row, because a report may create
its attempt (no row to lock yet) and a sync page touches a thousand: each holder keeps it
for a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db

_WRITE = "portal_write_transaction"  # the connection's execution option that asks for the lock
# pg_advisory_xact_lock's key: any fixed number, named for what it guards.
RECORDING_LOCK = 0x7E57_0001


class DatabaseBusy(Exception):
    """The write lock could not be had within the busy timeout; the caller answers 503."""


def configure_engine(engine: sa.Engine, busy_timeout: float) -> None:
    """Set up the portal's own engine (not every engine in the process: the sandbox may share it)."""
    if engine.dialect.name != "sqlite":
        return
    milliseconds = int(busy_timeout * 1000)

    @sa.event.listens_for(engine, "connect")
    def tune(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers work while a writer commits
        cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def begin(connection: sa.Connection) -> None:
        # pysqlite's own BEGIN would come only at the first write, after the reads the
        # decision rests on. Once this BEGIN has run, pysqlite adds none of its own.
        if connection.get_execution_options().get(_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that holds the recording lock from before its first read; commits on
    success, rolls back on any error. Raises DatabaseBusy when the lock stays taken for
    longer than the busy timeout.

    Whatever the session read before is ended first: a decision must rest on reads made
    under the lock, and SQLite cannot turn a reading transaction into a writing one once
    another writer has committed.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_transaction() needs a session without pending changes")
    session.rollback()
    timeout = current_app.config["DATABASE_BUSY_TIMEOUT"]
    try:
        connection = session.connection(execution_options={_WRITE: True})
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORDING_LOCK)))
    except sa.exc.OperationalError as error:
        session.rollback()
        if _is_lock_timeout(error):
            raise DatabaseBusy("the database stayed locked by another writer") from None
        raise
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _is_lock_timeout(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "lock timeout" in text or "canceling statement" in text
