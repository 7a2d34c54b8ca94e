"""`/healthz` and the error pages a visitor sees."""

import sqlalchemy as sa
from flask import abort

from portal import create_app
from portal.extensions import db
from tests.conftest import TEST_SETTINGS, unreachable_database_uri
from tests.factories import make_user


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


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
