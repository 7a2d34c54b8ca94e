"""The app factory, its settings and the database it opens."""

import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.core.config import MissingSecretKey
from portal.core.database import RECORDING_LOCK, write_transaction
from portal.core.extensions import db
from portal.models import Attempt
from tests import CHECKOUT
from tests.conftest import ON_POSTGRESQL, TEST_SETTINGS


def production_settings(tmp_path, **overrides):
    """Nothing but a database: every other setting comes from defaults and environment."""
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite", **overrides}


def test_refuses_to_start_without_secret_key(tmp_path):
    with pytest.raises(MissingSecretKey, match="PORTAL_SECRET_KEY"):
        create_app(production_settings(tmp_path, SECRET_KEY=None))


def test_refuses_a_short_throwaway_secret_key(tmp_path):
    with pytest.raises(MissingSecretKey):
        create_app(production_settings(tmp_path, SECRET_KEY="dev"))


def test_starts_with_a_real_secret_key(tmp_path):
    app = create_app(production_settings(tmp_path, SECRET_KEY="x" * 32))
    assert not app.testing
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wsgi_prints_one_line_and_exits_without_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        capture_output=True, text=True, cwd=CHECKOUT,
        env={"PORTAL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/w.sqlite", "PORTAL_INSTANCE_PATH": str(tmp_path)},
    )
    assert result.returncode == 4
    assert result.stderr.strip().count("\n") == 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_overrides_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_TESTPRESS_BASE_URL", "https://myinstitute.testpress.in")
    monkeypatch.setenv("PORTAL_TESTPRESS_LAUNCH_TTL", "600")
    app = create_app(production_settings(tmp_path, SECRET_KEY="y" * 32))
    assert app.config["TESTPRESS_BASE_URL"] == "https://myinstitute.testpress.in"
    assert app.config["TESTPRESS_LAUNCH_TTL"] == 600


def test_private_key_defaults_to_the_secret(tmp_path):
    app = create_app({**TEST_SETTINGS, "TESTPRESS_PRIVATE_KEY": "", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["TESTPRESS_PRIVATE_KEY"] == TEST_SETTINGS["TESTPRESS_SECRET"]


@pytest.mark.parametrize("key, value", [
    ("TESTPRESS_PERCENT_ENCODING", "base64"),
    ("TESTPRESS_WEBHOOK_ALGORITHMS", "md5"),
])
def test_refuses_unknown_signing_settings(key, value):
    with pytest.raises(ValueError, match=key):
        create_app({**TEST_SETTINGS, key: value, "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_default_database_is_sqlite_in_the_instance_folder():
    app = create_app({**TEST_SETTINGS})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{app.instance_path}/portal.sqlite"


def test_the_database_enforces_foreign_keys(app):
    """SQLite only when told (a pragma on every connection); PostgreSQL always."""
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(Attempt).values(student_id=999, exam_id=999, institute_attempt_id=1))


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's pragmas and lock; see the PostgreSQL counterpart below")
def test_sqlite_runs_with_wal_and_busy_timeout_and_writes_begin_immediate(app):
    pragma = lambda name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar()  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("busy_timeout") == app.config["DATABASE_BUSY_TIMEOUT"] * 1000 == 10_000
    assert pragma("foreign_keys") == 1
    db.session.rollback()
    with write_transaction():
        # Holding the write lock from the start: another writer cannot even begin.
        other = sqlite3.connect(db.engine.url.database, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL's counterpart of the SQLite test above")
def test_postgresql_write_transactions_hold_the_recording_lock(app):
    """No PRAGMA on PostgreSQL (it would be a syntax error on every connection); a write
    transaction holds the advisory lock instead, until it ends."""
    held = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key")
    with write_transaction():
        assert db.session.execute(held, {"key": RECORDING_LOCK}).scalar() == 1
    assert db.session.execute(held, {"key": RECORDING_LOCK}).scalar() == 0


def test_migrations_build_the_same_schema_as_the_models(database_uri):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from portal.core.database import init_database

    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_uri})
    with app.app_context():
        init_database()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_security_headers_are_sent(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    # Forms post only to the portal and to Testpress (the launch form): none to another site.
    assert "form-action 'self' https://testpress.example" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_cli_prints_one_line_and_fails_without_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", "init-db"],
        capture_output=True, text=True, cwd=CHECKOUT,
        env={"PORTAL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/c.sqlite", "PORTAL_INSTANCE_PATH": str(tmp_path)},
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: SECRET_KEY is not set")
    assert "Traceback" not in result.stderr


def test_every_page_names_the_portals_icon(client):
    for url in ("/login", "/testpress/return"):
        assert ('<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
                in client.get(url).get_data(as_text=True))
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
