"""Fixtures shared by the portal's tests: a fresh app and database for every test.

The suite runs on SQLite; with PORTAL_TEST_DATABASE_URL naming an (empty) PostgreSQL
database, e.g. postgresql+psycopg://postgres@localhost:5433/portal_test, it runs on that.
"""

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from portal import create_app
from portal.core.database import create_database_file
from portal.core.extensions import db
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


@pytest.fixture(scope="session", autouse=True)
def instance_folder(tmp_path_factory):
    """An instance folder of the test run's own, for every app and command it starts: the
    checkout's instance/ may hold the demo's config.py (`make run` writes it) or a real one."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("instance")
        patch.setenv("PORTAL_INSTANCE_PATH", str(folder))
        yield folder


TEST_DATABASE_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
ON_POSTGRESQL = TEST_DATABASE_URL.startswith("postgresql")
_server = None  # an engine on TEST_DATABASE_URL itself, for creating and dropping schemas


@contextmanager
def fresh_database(folder: Path):
    """Yield the URI of a new, empty database: a SQLite file in `folder`, or on PostgreSQL a
    new schema that the URI puts first on the search path, dropped afterwards.

    A schema costs a few milliseconds; CREATE DATABASE, even from a template, costs tens.
    """
    global _server
    if not ON_POSTGRESQL:
        yield f"sqlite:///{folder}/portal.sqlite"
        return
    if _server is None:
        _server = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    schema = f"test_{secrets.token_hex(6)}"
    with _server.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    # Tagged with the schema's name, so that the connections left in the test's pools can be
    # found and closed before the schema is dropped.
    url = sa.make_url(TEST_DATABASE_URL).update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _server.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE application_name = :schema"), {"schema": schema})
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


def unreachable_database_uri(folder: Path) -> str:
    """A database URI, of the kind the suite runs on, that cannot be opened."""
    if ON_POSTGRESQL:
        return sa.make_url(TEST_DATABASE_URL).set(database="no_such_database").render_as_string(hide_password=False)
    return f"sqlite:///{folder}/no-such-folder/portal.sqlite"


@pytest.fixture
def database_uri(tmp_path):
    """A new, empty database for this test (see fresh_database)."""
    with fresh_database(tmp_path) as uri:
        yield uri


@pytest.fixture
def make_app(database_uri):
    """Build an app on a fresh database; keyword arguments override settings."""

    def build(**settings):
        config = {**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_uri, **settings}
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


class MailCatcher:
    """An SMTP server (aiosmtpd) on a free port, keeping what it receives; it can refuse a
    recipient, be slow to answer a message, ask for a login, and be stopped and started again."""

    def __init__(self, port: int):
        self.port = port
        self.received = []  # email.message.EmailMessage, in the order they arrived
        self.refused = set()  # addresses answered 550
        self.delay = 0.0  # seconds before answering a message's data
        self.login = None  # (username, password) the server requires, if any
        self.tls = None  # an ssl.SSLContext: offered by STARTTLS, or from the start with `implicit_tls`
        self.implicit_tls = False
        self.secure = []  # for each message received, whether it came over TLS
        self._controller = None

    @property
    def settings(self) -> dict:
        settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_DEFAULT_SENDER":
                    "Test Institute <portal@institute.example>", "MAIL_TIMEOUT": 5}
        if self.login:
            settings.update(MAIL_USERNAME=self.login[0], MAIL_PASSWORD=self.login[1])
        return settings

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        catcher = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, options):
                if address in catcher.refused:
                    return "550 5.1.1 No such user here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                import asyncio
                from email import message_from_bytes, policy

                await asyncio.sleep(catcher.delay)
                tls = session.ssl or server.transport.get_extra_info("sslcontext")  # STARTTLS, or from the start
                catcher.secure.append(tls is not None)
                catcher.received.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 Message accepted"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = catcher.login == (auth_data.login.decode(), auth_data.password.decode())
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

        options = {"authenticator": authenticate, "auth_require_tls": False} if self.login else {}
        if self.tls is not None:
            options.update(ssl_context=self.tls) if self.implicit_tls else options.update(tls_context=self.tls)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def use_tls(self, context, *, implicit: bool = False) -> None:
        self.tls, self.implicit_tls = context, implicit
        self.stop()
        self.start()

    def require_login(self, username: str, password: str) -> None:
        self.login = (username, password)
        self.stop()
        self.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mail_catcher():
    """A running SMTP server that keeps what it receives (see MailCatcher)."""
    catcher = MailCatcher(free_port())
    catcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture
def mail_app(make_app, mail_catcher):
    """The app, sending to `mail_catcher`, with an app context pushed."""
    app = make_app(**mail_catcher.settings)
    with app.app_context():
        yield app
        db.session.remove()
