"""Fixtures shared by the portal's tests: a fresh app and database for every test."""

import pytest
import requests

from portal import create_app
from portal.database import create_database_file
from portal.extensions import db
from testpress_sandbox import create_app as create_sandbox
from testpress_sandbox import faults
from testpress_sandbox.seed import seed_attempts
from testpress_sandbox.server import start_in_thread
from tests.factories import PASSWORD

# The Testpress identity of the test installation matches tests/vectors.json, so a
# test can check what the portal signs against the golden vectors' values.
TEST_SETTINGS = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "WTF_CSRF_ENABLED": False,
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_SECURE": False,
    "TESTPRESS_BASE_URL": "https://testpress.example",
    "TESTPRESS_PUBLIC_KEY": "sxe7uKykEUT7WSnh",
    "TESTPRESS_SECRET": "s3cr3t-Hm4c+/=",
    "TESTPRESS_PRIVATE_KEY": "pr1v4te/Key+==",
    "TESTPRESS_API_USERNAME": "admin",
    "TESTPRESS_API_PASSWORD": "api-password",
}


@pytest.fixture
def make_app(tmp_path):
    """Build an app on a fresh SQLite file; keyword arguments override settings."""

    def build(**settings):
        config = {**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/portal.sqlite", **settings}
        app = create_app(config)
        with app.app_context():
            create_database_file()  # the app opens an existing file only
            db.create_all()
        return app

    return build


@pytest.fixture
def app(make_app):
    """The app, with an app context pushed so a test can use `db.session` directly."""
    app = make_app()
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, email, password=PASSWORD, **query):
        return self._client.post("/login", query_string=query, data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


class LiveSandbox:
    """A sandbox served on a real port, with helpers to seed it and to switch faults on."""

    def __init__(self, app, url: str):
        self.app = app
        self.url = url

    def seed(self, count: int, **options) -> None:
        with self.app.app_context():
            seed_attempts(count, **options)

    def set_faults(self, **settings) -> None:
        response = requests.post(f"{self.url}/sandbox/faults", json=settings, timeout=5)
        assert response.status_code == 200, response.text


@pytest.fixture
def live_sandbox(tmp_path):
    """A sandbox for the Admin API client and the sync, on a real port, faults reset."""
    faults.reset()
    app = create_sandbox({
        "TESTING": True,
        "SECRET_KEY": "sandbox-for-portal-tests",
        "DATABASE": str(tmp_path / "sandbox.sqlite"),
        "WEBHOOK_URL": "",
    })
    running = start_in_thread(app, host="127.0.0.1")
    yield LiveSandbox(app, running.url)
    running.stop()
    faults.reset()
