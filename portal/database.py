"""Where the portal's database lives, and whether it holds the portal's schema.

Opening a missing SQLite file creates an empty database, and every page then fails while
/healthz, asking only for a connection, said all was well. So the app opens its SQLite
file read-write only (a missing file is an error), only `init_database` (init-db, the
demo) and the tests create it, and /healthz asks for the migrations' head revision.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade

from portal.extensions import db


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
