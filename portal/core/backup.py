"""A consistent copy of the SQLite database, taken while the portal keeps serving.

Copying the file with `cp` while a worker commits can catch half a transaction (and misses
whatever still sits in the -wal file). SQLite's online backup API copies the pages under
one read transaction instead: the copy is the database as of one commit, and in WAL mode
the workers keep writing meanwhile. PostgreSQL has its own tools (pg_dump); see README.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL


class BackupRefused(Exception):
    """This database cannot be backed up this way; the message says what to do instead."""


def backup_sqlite(url: URL, destination: Path) -> int:
    """Copy the SQLite database at `url` to `destination` (a new file); answers its size."""
    if url.get_backend_name() != "sqlite":
        raise BackupRefused(
            f"backup copies SQLite databases only, and this portal uses {url.get_backend_name()}: "
            "use pg_dump instead, e.g. `pg_dump --format=custom --file=portal.dump DATABASE_URL` "
            "(restore with pg_restore; see README, Backups)")
    if not url.database or url.database == ":memory:":
        raise BackupRefused("the database is in memory: there is no file to back up")
    source_path = Path(url.database)
    if not source_path.is_file():
        raise BackupRefused(f"no database file at {source_path}")
    if destination.exists():
        raise BackupRefused(f"{destination} already exists: give a new file name (nothing was overwritten)")
    if destination.resolve() == source_path.resolve():
        raise BackupRefused("the backup must go to another file than the database itself")

    source = sqlite3.connect(source_path, timeout=30)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target)  # all pages in one step: one snapshot, however busy the source
            (verdict,) = target.execute("PRAGMA integrity_check").fetchone()
        finally:
            target.close()
    finally:
        source.close()
    if verdict != "ok":
        destination.unlink()
        raise BackupRefused(f"the copy failed SQLite's integrity check ({verdict}); nothing was kept")
    return destination.stat().st_size
