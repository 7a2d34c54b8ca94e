"""`flask --app portal backup PATH`: a consistent copy while the portal keeps writing."""

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from portal import create_app
from portal.core.backup import BackupRefused, backup_sqlite
from portal.core.extensions import db
from portal.models import Exam, User
from tests.conftest import TEST_SETTINGS


def write_pairs(app, stop: threading.Event, written: list[int]) -> None:
    """Commit an exam and a user together until stopped (and at least 50 times, so some writes
    follow the backup): every committed state has as many of each."""
    with app.app_context():
        number = 0
        while not stop.is_set() or number < 50:
            number += 1
            with db.engine.begin() as connection:
                connection.execute(sa.insert(Exam).values(
                    title=f"Exam {number}", description="x" * 2000, exam_url=f"https://t.example/{number}/",
                    published=True, created_at=sa.func.current_timestamp()))
                connection.execute(sa.insert(User).values(
                    email=f"s{number}@example.com", name="S", password_hash="x", is_staff=False, active=True,
                    created_at=sa.func.current_timestamp()))
            written.append(number)


@pytest.fixture
def sqlite_app(make_app, tmp_path):
    """Backups are of SQLite files, whichever database the rest of the suite runs on."""
    return make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/live.sqlite")


def test_a_backup_taken_during_writes_is_one_committed_state(sqlite_app, tmp_path):
    app, stop, written = sqlite_app, threading.Event(), []
    writer = threading.Thread(target=write_pairs, args=(app, stop, written))
    writer.start()
    try:
        while len(written) < 20:  # writes are flowing
            threading.Event().wait(0.01)
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.sqlite")])
        during = len(written)
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert "integrity check ok" in result.output

    copy = sqlite3.connect(tmp_path / "copy.sqlite")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    exams, users = (copy.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("exams", "users"))
    copy.close()
    assert exams == users  # never one half of a transaction
    assert 20 <= exams <= during + 1 and exams < len(written)  # a state from while the writer ran

    # Restored (the file copied back, as README says), the portal reads it.
    restored = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/copy.sqlite"})
    with restored.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == users


def test_backup_never_overwrites_a_file(sqlite_app, tmp_path):
    existing = tmp_path / "keep.sqlite"
    existing.write_text("precious")
    result = sqlite_app.test_cli_runner().invoke(args=["backup", str(existing)])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert existing.read_text() == "precious"


def test_backup_refuses_postgresql_and_names_pg_dump(tmp_path):
    with pytest.raises(BackupRefused, match="pg_dump"):
        backup_sqlite(make_url("postgresql+psycopg://portal@db.internal/portal"), tmp_path / "copy.sqlite")
    assert not (tmp_path / "copy.sqlite").exists()
