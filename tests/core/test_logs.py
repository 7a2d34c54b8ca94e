"""One log line per request with its id, and no secret in any log line."""

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.core.database import create_database_file
from portal.core.extensions import db
from portal.models import User
from portal.testpress import client as client_module
from portal.testpress.client import TestpressClient
from portal.testpress.sync import sync_attempts
from testpress_sandbox.config import DEFAULTS
from tests.conftest import TEST_SETTINGS
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_return import signed_return
from tests.web.testpress.test_webhook import completed_payload, signed_body

REQUEST_LINE = re.compile(r"request ([0-9a-f]{16}): (\S+) (\S+) (\d{3}) (\d+)ms user (\S+)")


def request_lines(caplog) -> list[tuple]:
    return [REQUEST_LINE.fullmatch(r.getMessage()).groups()
            for r in caplog.records if r.name == "portal.requests"]


def test_each_request_logs_one_line_with_the_id_it_answers(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/login")

    [(request_id, method, path, status, _ms, user)] = request_lines(caplog)
    assert (method, path, status, user) == ("GET", "/login", "200", "-")
    assert response.headers["X-Request-ID"] == request_id


def test_the_line_names_the_logged_in_user(app, client, auth, caplog):
    student = make_user("asha@example.com")
    auth.login("asha@example.com")
    caplog.set_level(logging.INFO)
    client.get("/exams/")
    [(_, _, path, status, _, user)] = request_lines(caplog)
    assert (path, status, user) == ("/exams/", "200", str(student.id))


def test_the_path_is_logged_without_its_query_string(app, client, caplog):
    attempt = make_attempt(make_user("ravi@example.com", "Ravi Kumar"), make_exam())
    fields = signed_return(attempt)
    caplog.set_level(logging.DEBUG)
    client.get("/testpress/return", query_string=fields)

    [(_, method, path, status, _, _)] = request_lines(caplog)
    assert (method, path, status) == ("GET", "/testpress/return", "303")
    assert fields["hmac"] not in caplog.text and "ravi" not in caplog.text.lower()


def test_a_proxys_safe_request_id_is_kept(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/login", headers={"X-Request-ID": "nginx-7f3a9c01e2"})
    assert response.headers["X-Request-ID"] == "nginx-7f3a9c01e2"
    assert "request nginx-7f3a9c01e2: GET /login 200" in caplog.text


@pytest.mark.parametrize("unsafe", ["two words", "x" * 65, "id;rm -rf", "<script>"])
def test_an_unsafe_request_id_is_replaced(client, caplog, unsafe):
    caplog.set_level(logging.INFO)
    response = client.get("/login", headers={"X-Request-ID": unsafe})
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["X-Request-ID"])
    assert unsafe not in caplog.text


@pytest.fixture
def restore_logging():
    """dictConfig reconfigures the process: put pytest's handlers and the levels back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in ("sqlalchemy", "werkzeug", "portal")}
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


def test_production_logs_go_to_stderr_with_the_request_id_on_every_line(tmp_path, capsys, restore_logging):
    app = create_app({"SECRET_KEY": "a-real-production-secret-key",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/portal.sqlite",
                      "SESSION_COOKIE_SECURE": False})
    with app.app_context():
        create_database_file()  # the app opens an existing file only
        db.create_all()
    client = app.test_client()
    response = client.post("/login", data={"email": "nobody@example.com", "password": "hunter2-secret"})
    request_id = response.headers["X-Request-ID"]

    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if f"[{request_id}]" in line]
    # Production checks CSRF: the form-less POST is refused, and says so, under the request's id.
    assert any(" WARNING portal [" in line and "csrf: POST /login refused" in line for line in lines)
    assert any(f" INFO portal.requests [{request_id}] request {request_id}: POST /login 400 " in line
               for line in lines)
    assert "hunter2-secret" not in stderr
    assert "SELECT" not in stderr  # SQLAlchemy's statements (and their parameters) stay out


def test_a_settings_logging_dict_replaces_the_default(tmp_path, capsys, restore_logging):
    custom = {"version": 1, "disable_existing_loggers": False,
              "formatters": {"bare": {"format": "CUSTOM %(name)s %(message)s"}},
              "handlers": {"err": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                   "formatter": "bare"}},
              "root": {"level": "INFO", "handlers": ["err"]}}
    app = create_app({"SECRET_KEY": "a-real-production-secret-key", "LOGGING": custom,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/portal.sqlite"})
    app.test_client().get("/healthz")
    assert "CUSTOM portal.requests request " in capsys.readouterr().err


def test_no_secret_token_password_hmac_or_hash_is_ever_logged(make_app, live_sandbox, caplog, monkeypatch):
    """A realistic morning: logins, a return, a webhook and a sync, every logger at DEBUG."""
    monkeypatch.setattr(client_module, "RETRY_BACKOFF", 0.001)
    caplog.set_level(logging.DEBUG)
    app = make_app(TESTPRESS_BASE_URL=live_sandbox.url, TESTPRESS_API_USERNAME=DEFAULTS["API_USERNAME"],
                   TESTPRESS_API_PASSWORD=DEFAULTS["API_PASSWORD"])
    live_sandbox.seed(30)
    with app.app_context():
        student = make_user("ravi+tests@example.com", "Ravi Kumar")
        make_staff("staff@example.com")
        attempt = make_attempt(student, make_exam(testpress_id=12))
        password_hash = db.session.scalar(sa.select(User.password_hash).where(User.id == student.id))
        returned = signed_return(attempt)
        webhook = signed_body(completed_payload(email="ravi+tests@example.com",
                                                institute_attempt_id=attempt.institute_attempt_id))

    client = app.test_client()
    client.post("/login", data={"email": "ravi+tests@example.com", "password": "a-wrong-passw0rd"})
    client.post("/login", data={"email": "ravi+tests@example.com", "password": PASSWORD})
    session_cookie = client.get_cookie("session").value
    client.get("/testpress/return", query_string=returned)
    client.post("/testpress/return", data=returned)
    client.get(f"/attempts/{attempt.id}/review")
    assert client.post("/testpress/webhook", data=webhook,
                       content_type="application/json").status_code == 200
    review = client.get(f"/attempts/{attempt.id}/review")
    review_signature = parse_qs(urlsplit(review.headers.get("Location", "")).query).get("hmac", [""])[0]
    launch = client.post(f"/exams/{attempt.exam_id}/start").get_data(as_text=True)
    launch_hmac = re.search(r'name="hmac" value="([^"]+)"', launch)[1]
    staff = app.test_client()
    staff.post("/login", data={"email": "staff@example.com", "password": PASSWORD})
    staff.get("/admin/attempts/")
    link_page = staff.post(f"/admin/people/{student.id}/password-link").get_data(as_text=True)
    link = re.search(r'value="http://localhost(/password/[^"]+)"', link_page)[1]
    client.get(link)
    client.post(link, data={"password": "too short", "confirm": "too short"})
    with app.app_context():
        api = TestpressClient(live_sandbox.url, DEFAULTS["API_USERNAME"], DEFAULTS["API_PASSWORD"], backoff=0.001)
        sync_attempts(api, since=None)
        token = api._token
    live_sandbox.set_faults(expire_tokens=True)  # a fresh login mid-sync, logged as such
    with app.app_context():
        sync_attempts(api, since=None)

    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "request " in logged and "sync" in logged.lower()  # the run was logged at all
    secrets = {
        "student's password": PASSWORD, "wrong password": "a-wrong-passw0rd",
        "password hash": password_hash, "session cookie": session_cookie,
        "return hmac": returned["hmac"], "webhook hash": webhook.decode().rsplit('"hash": "', 1)[1][:128],
        "API token": token, "API password": DEFAULTS["API_PASSWORD"],
        "SECRET_KEY": TEST_SETTINGS["SECRET_KEY"], "Testpress secret": TEST_SETTINGS["TESTPRESS_SECRET"],
        "private key": TEST_SETTINGS["TESTPRESS_PRIVATE_KEY"],
        # And every token and signature the run issued.
        "password link's token": link.rsplit("/", 1)[1], "launch hmac": launch_hmac,
        "review link's signature": review_signature,
    }
    assert all(value for value in secrets.values())
    leaked = [name for name, value in secrets.items() if value in logged]
    assert leaked == []
