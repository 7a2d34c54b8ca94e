"""`flask --app portal testpress check` and /admin/testpress/check, against the sandbox, fault by fault."""

import json
from datetime import timedelta

import pytest

from portal.core.clock import utcnow
from portal.testpress import check
from portal.testpress import client as client_module
from testpress_sandbox.config import DEFAULTS
from tests import VECTORS_FILE
from tests.factories import make_exam, make_staff, make_user
from tests.web.testpress.test_webhook import completed_payload, signed_body


@pytest.fixture(autouse=True)
def tiny_backoff(monkeypatch):
    monkeypatch.setattr(client_module, "RETRY_BACKOFF", 0.001)


@pytest.fixture
def connect(make_app, live_sandbox):
    """A portal connected to the live sandbox as an institute connects to Testpress: settings overridable."""

    def build(**settings):
        app = make_app(**{"TESTPRESS_BASE_URL": live_sandbox.url, "TESTPRESS_API_USERNAME": DEFAULTS["API_USERNAME"],
                          "TESTPRESS_API_PASSWORD": DEFAULTS["API_PASSWORD"], **settings})
        with app.app_context():
            make_exam("Physics Mock 1", exam_url=f"{live_sandbox.url}/exams/run/physics-mock-1/start/", testpress_id=1)
        return app

    return build


def deliver(app, **signing) -> int:
    """One webhook POST, as Testpress sends it; answers the portal's status code."""
    body = signed_body(completed_payload(), **signing)
    return app.test_client().post("/testpress/webhook", data=body, content_type="application/json").status_code


def run(app):
    result = app.test_cli_runner().invoke(args=["testpress", "check"])
    lines = {line.split(":", 1)[0].split(None, 1)[1]: line for line in result.output.splitlines()}
    return result.exit_code, lines


def test_a_healthy_connection_passes_every_check(connect):
    app = connect()
    assert deliver(app) == 200
    code, lines = run(app)

    assert code == 0, lines
    assert set(lines) == {"Admin API", "Clock", "Exam URLs", "Signing", "Webhooks", "Webhook verification"}
    assert all(line.startswith("ok ") for line in lines.values()), lines
    assert "logged in to http://127.0.0.1" in lines["Admin API"]
    assert "none of the last day's 1 deliveries failed" in lines["Webhook verification"]


def test_a_wrong_api_password_fails_and_names_the_settings(connect):
    code, lines = run(connect(TESTPRESS_API_PASSWORD="not-the-password"))
    assert code == 1
    assert lines["Admin API"].startswith("FAILED")
    assert "refused the API credentials" in lines["Admin API"]
    assert "TESTPRESS_API_PASSWORD" in lines["Admin API"]
    assert "not-the-password" not in "".join(lines.values())


def test_an_unreachable_testpress_names_the_base_url(connect):
    code, lines = run(connect(TESTPRESS_BASE_URL="http://127.0.0.1:9"))
    assert code == 1
    assert "check TESTPRESS_BASE_URL (http://127.0.0.1:9)" in lines["Admin API"]


def test_missing_api_settings_are_named(connect):
    code, lines = run(connect(TESTPRESS_API_USERNAME="", TESTPRESS_API_PASSWORD=""))
    assert code == 1
    assert "TESTPRESS_API_USERNAME, TESTPRESS_API_PASSWORD not set" in lines["Admin API"]
    assert lines["Clock"].startswith("WARNING")


@pytest.mark.parametrize(("skew", "level", "words"), [
    (timedelta(minutes=5), "WARNING", "about 5 minutes ahead of Testpress's"),
    (timedelta(minutes=-20), "FAILED", "about 20 minutes behind Testpress's"),
])
def test_a_skewed_clock_warns_then_fails(connect, monkeypatch, skew, level, words):
    app = connect()
    deliver(app)
    monkeypatch.setattr(check, "utcnow", lambda: utcnow() + skew)
    code, lines = run(app)

    assert lines["Clock"].startswith(level)
    assert words in lines["Clock"] and "NTP" in lines["Clock"]
    assert code == (1 if level == "FAILED" else 0)


def test_an_exam_on_another_host_fails(connect):
    app = connect()
    with app.app_context():
        make_exam("Chemistry", exam_url="https://other-institute.testpress.in/exams/run/chem/start/")
    code, lines = run(app)
    assert code == 1
    assert lines["Exam URLs"].startswith("FAILED")
    assert "“Chemistry”" in lines["Exam URLs"] and "other-institute.testpress.in" in lines["Exam URLs"]
    assert "Physics" not in lines["Exam URLs"]


def test_an_encoding_other_than_testpress_s_warns(connect):
    code, lines = run(connect(TESTPRESS_PERCENT_ENCODING="none"))
    assert lines["Signing"].startswith("WARNING")
    assert "TESTPRESS_PERCENT_ENCODING is none" in lines["Signing"]
    assert "TESTPRESS_PERCENT_ENCODING=quote" in lines["Signing"]


def test_damaged_signing_code_fails(connect, monkeypatch):
    app = connect()
    monkeypatch.setattr(check.signing, "encode", lambda value, encoding="quote": str(value).upper())
    code, lines = run(app)
    assert code == 1
    assert lines["Signing"].startswith("FAILED") and "reinstall" in lines["Signing"]


def test_webhooks_that_failed_verification_point_at_the_private_key(connect):
    app = connect()
    assert deliver(app) == 200
    assert deliver(app, private_key="an-old-private-key") == 400
    assert deliver(app, private_key="an-old-private-key") == 400
    code, lines = run(app)

    assert code == 1
    assert lines["Webhook verification"].startswith("FAILED")
    assert "2 of the last day's 3 deliveries failed verification" in lines["Webhook verification"]
    assert "TESTPRESS_PRIVATE_KEY" in lines["Webhook verification"]


def test_failures_older_than_a_day_are_history(connect, monkeypatch):
    app = connect()
    deliver(app, private_key="an-old-private-key")
    monkeypatch.setattr(check, "utcnow", lambda: utcnow() + timedelta(days=2))
    monkeypatch.setattr(check, "check_clock", lambda *_: check.Finding(check.Level.OK, "Clock", "skipped"))
    _, lines = run(app)
    assert lines["Webhook verification"].startswith("ok")


def test_no_webhook_ever_received_says_where_to_point_testpress(connect):
    code, lines = run(connect())
    assert lines["Webhooks"].startswith("WARNING")
    assert "no webhook has ever arrived" in lines["Webhooks"] and "/testpress/webhook" in lines["Webhooks"]
    assert code == 0  # nothing is wrong yet: nobody has taken an exam


def test_the_staff_page_offers_the_check_and_runs_it_on_post(connect):
    app = connect(TESTPRESS_API_PASSWORD="not-the-password")
    with app.app_context():
        make_staff("staff@example.com")
    client = app.test_client()
    client.post("/login", data={"email": "staff@example.com", "password": "correct horse battery staple"})

    offered = client.get("/admin/testpress/check")
    assert offered.status_code == 200 and "Run the check" in offered.get_data(as_text=True)
    assert "refused the API credentials" not in offered.get_data(as_text=True)

    page = client.post("/admin/testpress/check").get_data(as_text=True)
    assert "Something needs changing" in page
    assert "refused the API credentials" in page and "TESTPRESS_API_PASSWORD" in page


def test_a_student_cannot_run_the_check(connect):
    app = connect()
    with app.app_context():
        make_user("asha@example.com")
    client = app.test_client()
    client.post("/login", data={"email": "asha@example.com", "password": "correct horse battery staple"})
    assert client.get("/admin/testpress/check").status_code == 403
    assert client.post("/admin/testpress/check").status_code == 403


def test_the_packaged_vectors_are_the_tests_golden_vectors():
    tests_copy = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    assert json.loads(check.VECTORS_PATH.read_text(encoding="utf-8")) == tests_copy


def test_an_exam_without_its_testpress_id_is_named(connect):
    app = connect()
    with app.app_context():
        make_exam("Chemistry", exam_url=f"{app.config['TESTPRESS_BASE_URL']}/exams/run/chem/start/")
    code, lines = run(app)
    assert lines["Exam ids"].startswith("WARNING")
    assert "“Chemistry”" in lines["Exam ids"] and "no Testpress exam id" in lines["Exam ids"]
    assert "Physics" not in lines["Exam ids"]
    assert code == 0  # launches still work: a warning
