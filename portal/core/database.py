"""How the portal uses its database: transactions that own what they decide on, a SQLite
file that is never created by accident, and the schema /healthz checks.

## Transactions

Recording a result is a read-decide-write: read the attempt and its reports, decide what
the new report changes, write it. The browser return and its webhook arrive together, in
different workers (or servers), so two such transactions must never interleave, or the
second to commit silently undoes the first. `write_transaction` serialises them:

- on SQLite it begins `BEGIN IMMEDIATE`, taking the database's write lock before the first
  read, so that a second writer waits (up to `DATABASE_BUSY_TIMEOUT`) instead of reading a
  state that is about to change;
- on PostgreSQL it takes transaction-scoped advisory locks (below); readers are never
  blocked on either database.

Every other transaction on SQLite is left to pysqlite, which begins one (deferred) only at
the first write. SQLAlchemy's recipe for IMMEDIATE turns pysqlite's handling off for every
transaction instead; then each request's first read (the logged-in user) would open a
snapshot, and any later write in that request would fail at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out) whenever another worker had
committed in between. Savepoints are used only inside write transactions, where the
explicit BEGIN IMMEDIATE makes them work under pysqlite's handling too.

A lock per thing a recording decides on, not per attempt row, because a report may create
its attempt (no row to lock yet). On PostgreSQL a recording names its keys
(`write_transaction(keys=...)`): the students its reports are for, and their Testpress
attempts, so that one whose student is not known yet still takes turns with the other
reports of its attempt. It then holds the recording lock *shared*, with an exclusive lock per
key, taken in sorted order (two sync pages and a webhook never deadlock). Results for
different students are recorded in parallel, by any number of workers and servers; two for
the same student take turns. A transaction without keys (a staff change, a rule) holds the
recording lock exclusively, as before: it waits for the recordings under way and they wait
for it. A recording that finds under its locks that it needs a key it does not hold (a
student's email changed between the two reads) raises KeysChanged; `keyed_write` then does
it again under the whole lock. SQLite has one writer whatever the keys: the lock is the
database's, and a recording keeps it only as long as its decision and write take (the
verification and the parsing come before).

## The database file and its schema

Opening a missing SQLite file creates an empty database, and every page then fails while
/healthz, asking only for a connection, said all was well. So the app opens its SQLite
file read-write only (a missing file is an error), only `init_database` (init-db, the
demo) and the tests create it, and /healthz asks for the migrations' head revision.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy.ext.compiler import compiles

from portal.core import metrics
from portal.core.extensions import db

_WRITE = "portal_write_transaction"  # the connection's execution option that asks for the lock
# pg_advisory_xact_lock's key: any fixed number, named for what it guards.
RECORDING_LOCK = 0x7E57_0001


# The widest integer column is a signed 64-bit BIGINT (Testpress's ids), on SQLite and
# PostgreSQL alike; the portal's own row ids are INTEGER, which PostgreSQL keeps in 32 bits.
LARGEST_ID = 2**63 - 1
LARGEST_ROW_ID = 2**31 - 1
# ASCII digits only: int() also reads "٥", "5_5", "+5" and surrounding spaces.
DIGITS = re.compile(r"[0-9]{1,19}")


def whole_number(text: str, *, minimum: int = 1, maximum: int = LARGEST_ID) -> int | None:
    """`text` as an integer in [minimum, maximum], or None if it is not plain digits in range."""
    if not DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None


class DatabaseBusy(Exception):
    """The write lock could not be had within the busy timeout; the caller answers 503."""


class KeysChanged(Exception):
    """A keyed write transaction needs a key it does not hold (see keyed_write)."""


Key = tuple[str, Hashable]  # what a recording owns: ("student", 7), ("testpress attempt", "A-12")
_HELD = "portal_held_keys"  # the session's info: the keys its write transaction holds, or ALL
ALL = "the whole recording lock"
T = TypeVar("T")
_LOCK_EACH = sa.text("SELECT pg_advisory_xact_lock(number) FROM unnest(CAST(:numbers AS bigint[])) AS number")


def lock_key(key: Key) -> int:
    """The advisory lock number of `key`: a signed 64-bit digest (the same in every process)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class lower_text(sa.sql.functions.GenericFunction):  # noqa: N801 (an SQL function's name)
    """lower() of a text that may hold any letter, alike on both databases: PostgreSQL's
    lower() folds every letter of a UTF-8 database, SQLite's only A to Z ("Élodie" would
    stay "Élodie" there and match no query typed "élodie"), so on SQLite it calls Python's
    str.lower, registered on each connection by configure_engine. Compare it with a value
    lowered by str.lower in Python."""

    type = sa.String()
    inherit_cache = True


@compiles(lower_text)
def _lower_text(element, compiler, **kw) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _lower_text_sqlite(element, compiler, **kw) -> str:
    # Python only for a text with a letter beyond ASCII (fewer characters than bytes): a call
    # into Python per row tripled a search of 100,000 people (65 to 209 ms); for ASCII text
    # SQLite's own lower() gives what str.lower does.
    text = compiler.process(element.clauses, **kw)
    return f"CASE WHEN length({text}) = length(CAST({text} AS BLOB)) THEN lower({text}) ELSE {SQLITE_LOWER}({text}) END"


SQLITE_LOWER = "portal_lower"


def _python_lower(text):
    return text.lower() if isinstance(text, str) else text


def configure_engine(engine: sa.Engine, busy_timeout: float) -> None:
    """Set up the portal's own engine (not every engine in the process: the sandbox may share it)."""
    if engine.dialect.name != "sqlite":
        return
    open_sqlite_read_write(engine)  # a missing file is an error, not a new database
    milliseconds = int(busy_timeout * 1000)

    @sa.event.listens_for(engine, "connect")
    def tune(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers work while a writer commits
        cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # deterministic: SQLite may then use it as it does its own lower() (in an index, say).
        dbapi_connection.create_function(SQLITE_LOWER, 1, _python_lower, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def begin(connection: sa.Connection) -> None:
        # pysqlite's own BEGIN would come only at the first write, after the reads the
        # decision rests on. Once this BEGIN has run, pysqlite adds none of its own.
        if connection.get_execution_options().get(_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def write_transaction(keys: Iterable[Key] | None = None) -> Iterator[None]:
    """A transaction that holds the recording lock from before its first read; commits on
    success, rolls back on any error. Raises DatabaseBusy when the lock stays taken for
    longer than the busy timeout. With `keys`, on PostgreSQL, only what they name is owned
    (see the module's docstring): name every student and Testpress attempt decided on.

    Whatever the session read before is ended first: a decision must rest on reads made
    under the lock, and SQLite cannot turn a reading transaction into a writing one once
    another writer has committed.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_transaction() needs a session without pending changes")
    session.rollback()
    timeout = current_app.config["DATABASE_BUSY_TIMEOUT"]
    waiting = time.perf_counter()
    try:
        connection = session.connection(execution_options={_WRITE: True})
        held = ALL
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            if keys is None:
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORDING_LOCK)))
            else:
                held = frozenset(keys)
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(RECORDING_LOCK)))
                # In one round trip, in sorted order (unnest yields the array's order): a sync
                # page names a thousand students.
                connection.execute(_LOCK_EACH, {"numbers": sorted({lock_key(key) for key in held})})
    except sa.exc.OperationalError as error:
        session.rollback()
        if _is_lock_timeout(error):
            metrics.BUSY.inc()
            raise DatabaseBusy("the database stayed locked by another writer") from None
        raise
    metrics.LOCK_WAIT.observe(time.perf_counter() - waiting)
    session.info[_HELD] = held
    try:
        yield
        session.commit()
    except sa.exc.OperationalError as error:
        session.rollback()
        # A row lock (an exam's kept counts) waited past the timeout, or a deadlock the
        # database broke: nothing was written, and trying again is the answer, as for the locks.
        if _is_lock_timeout(error):
            metrics.BUSY.inc()
            raise DatabaseBusy("a row stayed locked by another writer") from None
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_HELD, None)


def keyed_write(work: Callable[[], T], keys: Callable[[], Iterable[Key]]) -> T:
    """`work()` in a write transaction holding the keys `keys()` names (asked for only on
    PostgreSQL: SQLite's one writer holds every key); should the work need one more
    (KeysChanged), once again under the whole recording lock, which holds every key."""
    if db.session.get_bind().dialect.name != "postgresql":
        with write_transaction():
            return work()
    try:
        with write_transaction(keys=keys()):
            return work()
    except KeysChanged as needed:
        current_app.logger.info("recording: needed %s, which it did not hold: done again under the whole lock",
                                needed)
        with write_transaction():
            return work()


def require_key(key: Key) -> None:
    """KeysChanged unless the write transaction under way holds `key` (the whole lock, or
    SQLite's, holds every key)."""
    held = db.session.info.get(_HELD, ALL)
    if held is not ALL and key not in held:
        raise KeysChanged(key)


def holds_every_key() -> bool:
    """Whether this session's writes are serialised with every other recording: outside a
    keyed write transaction (SQLite's, or the whole recording lock)."""
    return db.session.info.get(_HELD, ALL) is ALL


def flush_or_refuse(taken: Callable[[], Exception | None]) -> None:
    """Flush the session; when a unique constraint refuses it (someone took the value since
    the service checked), roll back and raise what `taken()` answers, looked up again after
    the rollback, or the IntegrityError itself when it answers None.

    No savepoint: under pysqlite's own transaction handling a savepoint outside
    write_transaction would commit when released, so the whole session is rolled back.
    """
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        refusal = taken()
        if refusal is not None:
            raise refusal from None
        raise


def _is_lock_timeout(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(words in text for words in ("database is locked", "lock timeout", "canceling statement",
                                           "deadlock detected"))


def sqlite_file(url: sa.engine.URL) -> Path | None:
    """The file of a SQLite URL given as a plain path; None for other databases, memory and URI forms."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query.get("uri"):
        return None
    return Path(url.database)


def open_sqlite_read_write(engine: sa.Engine) -> None:
    """Make every new connection of `engine` open its SQLite file with mode=rw, never creating it."""
    path = sqlite_file(engine.url)
    if path is None:
        return

    @sa.event.listens_for(engine, "do_connect")
    def read_write_only(_dialect, _record, cargs, cparams):
        # SQLite's URI filename form; the path is percent-encoded, as URIs need ("?" and "#").
        cargs[0] = f"file:{quote(str(path.resolve()))}?mode=rw"
        cparams["uri"] = True


def create_database_file() -> None:
    """Create the app's SQLite file if it is missing (init-db, the demo, the tests); else nothing."""
    path = sqlite_file(db.engine.url)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def init_database() -> None:
    """Create the database if it is a missing SQLite file, then apply every migration."""
    create_database_file()
    upgrade()


@cache
def head_revisions(migrations_directory: str) -> frozenset[str]:
    """The migrations' head revision(s), read once per process."""
    return frozenset(ScriptDirectory(migrations_directory).get_heads())


def current_revisions(connection: sa.Connection) -> set[str]:
    """The revisions in Alembic's version table (none without one).

    Read directly: alembic's MigrationContext would log two INFO lines on every health check.
    """
    if not sa.inspect(connection).has_table(VERSION_TABLE.name):
        return set()
    return set(connection.scalars(sa.select(VERSION_TABLE.c.version_num)))


VERSION_TABLE = sa.table("alembic_version", sa.column("version_num"))


def schema_problem() -> str | None:
    """None when the database answers and holds the migrations' head revision; else what is wrong.

    Raises SQLAlchemyError when the database cannot be reached at all.
    """
    path = sqlite_file(db.engine.url)
    if path is not None and not path.is_file():
        # A pooled connection still reads a moved file; new connections will fail.
        return "database file missing"
    current = current_revisions(db.session.connection())
    expected = head_revisions(current_app.extensions["migrate"].directory)
    if not current:
        return "no schema version: run `flask --app portal init-db`"
    if current != expected:
        return (f"schema at revision {', '.join(sorted(current))}, expected {', '.join(sorted(expected))}: "
                "run `flask --app portal init-db`")
    return None
