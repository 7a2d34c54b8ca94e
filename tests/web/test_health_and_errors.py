"""`/healthz` and the error pages a visitor sees."""

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import abort

from portal import create_app
from portal.core.database import init_database
from portal.core.extensions import db
from tests.conftest import ON_POSTGRESQL, TEST_SETTINGS, unreachable_database_uri
from tests.factories import make_user


@pytest.fixture
def migrated(make_app):
    """An app whose database was made by the migrations, as `init-db` makes it."""
    app = make_app()
    with app.app_context():
        db.drop_all()
        init_database()
    return app


def test_healthz_answers_ok(migrated):
    response = migrated.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


@pytest.mark.skipif(ON_POSTGRESQL, reason="a SQLite file; PostgreSQL creates no database on connecting")
def test_healthz_answers_503_and_creates_nothing_when_the_sqlite_file_has_moved(migrated, tmp_path):
    client = migrated.test_client()
    assert client.get("/healthz").status_code == 200  # a pooled connection now holds the file open
    database = tmp_path / "portal.sqlite"
    database.rename(tmp_path / "moved.sqlite")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "database file missing"}
    assert not database.exists()
    with migrated.app_context():
        db.engine.dispose()  # as a worker started now would be, with no connection open
        with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
            db.session.execute(sa.text("SELECT 1"))
        assert client.get("/healthz").json["database"] == "database file missing"
    assert not database.exists()


def test_a_new_connection_to_a_missing_sqlite_file_fails_and_creates_nothing(tmp_path):
    missing = tmp_path / "never-made.sqlite"
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "database file missing"}
    with app.app_context(), pytest.raises(sa.exc.OperationalError):
        db.session.execute(sa.text("SELECT 1"))
    assert not missing.exists()


def test_healthz_answers_503_without_a_schema_version(client):  # tables, but never migrated
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable",
                             "database": "no schema version: run `flask --app portal init-db`"}


def test_healthz_answers_503_at_another_schema_version(migrated):
    with migrated.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'an0ther'"))
        db.session.commit()
        [head] = ScriptDirectory(migrated.extensions["migrate"].directory).get_heads()

    response = migrated.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json["database"] == f"schema at revision an0ther, expected {head}: run `flask --app portal init-db`"


def test_init_db_creates_a_missing_sqlite_file(tmp_path):
    fresh = tmp_path / "folder" / "fresh.sqlite"
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{fresh}"})
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    assert fresh.is_file()
    assert app.test_client().get("/healthz").json == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_is_down(tmp_path):
    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": unreachable_database_uri(tmp_path)})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_404_page_is_friendly(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"Back to the portal" in response.data


def test_405_page_names_allowed_methods(client):
    response = client.delete("/login")
    assert response.status_code == 405
    assert b"Method not allowed" in response.data
    assert "GET" in response.headers["Allow"]


def test_403_for_a_student_on_a_staff_page(client, auth):
    make_user("asha@example.com")
    auth.login("asha@example.com")
    response = client.get("/admin/")
    assert response.status_code == 403
    assert b"You do not have access" in response.data


def test_json_clients_get_json_errors(client):
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == "Page not found"


def test_500_rolls_back_and_shows_no_stack_trace(app, client, caplog):
    from portal.models import User

    @app.route("/explode")
    def explode():
        db.session.add(User(email="half@example.com", name="Half", password_hash="x"))
        db.session.flush()
        raise RuntimeError("secret internals")

    response = client.get("/explode")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"secret internals" not in response.data and b"Traceback" not in response.data
    assert "secret internals" in caplog.text  # but it is logged for the operator
    assert db.session.scalar(sa.select(User).where(User.email == "half@example.com")) is None


def test_a_database_error_is_logged_without_the_statements_parameters(app, client, caplog):
    # A driver's error text names the statement's parameters: a webhook's body, an email.
    @app.route("/explode-in-the-database")
    def explode_in_the_database():
        db.session.execute(sa.text("SELECT * FROM no_such_table WHERE name = :name"),
                           {"name": "a-body-nobody-may-read"})

    response = client.get("/explode-in-the-database")
    assert response.status_code == 500
    assert "no_such_table" in caplog.text  # the operator still learns which statement failed
    assert "a-body-nobody-may-read" not in caplog.text


def test_a_write_a_concurrent_request_made_first_is_a_409_with_nothing_kept(app, client, caplog):
    """The net under every form that reached no lock: a unique index refusing the second of
    two identical writes says so, and keeps nothing of it."""
    from portal.models import User
    make_user("taken@example.com")

    @app.route("/twice")
    def twice():
        db.session.add(User(email="half@example.com", name="Half", password_hash="x"))
        db.session.add(User(email="taken@example.com", name="Again", password_hash="x"))
        db.session.flush()

    response = client.get("/twice")
    assert response.status_code == 409
    assert "changed the same thing at the same moment" in response.get_data(as_text=True)
    assert "collision: GET /twice refused by a constraint" in caplog.text
    assert db.session.scalar(sa.select(User).where(User.email == "half@example.com")) is None


def test_400_and_429_pages(app, client):
    @app.route("/bad")
    def bad():
        abort(400)

    @app.route("/slow-down")
    def slow_down():
        abort(429)

    assert b"Bad request" in client.get("/bad").data
    response = client.get("/slow-down")
    assert response.status_code == 429 and b"Too many requests" in response.data
