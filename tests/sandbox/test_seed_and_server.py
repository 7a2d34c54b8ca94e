"""Bulk seeding, the CLI, the admin pages, and running the sandbox as a real server."""

import json

import requests

from portal.testpress.signing import verify_webhook
from testpress_sandbox import create_app
from testpress_sandbox.config import DEFAULTS
from testpress_sandbox.models import Attempt, User, db
from testpress_sandbox.seed import EXAMS, seed_attempts
from testpress_sandbox.server import start_in_thread

from .helpers import launch_form, read_forms


def count(app, model, *conditions) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model).where(*conditions))


def test_one_hundred_thousand_attempts_seeded_in_one_go(client, app):
    with app.app_context():
        assert seed_attempts(100_000) == 100_000
    assert count(app, Attempt, Attempt.state == "Completed") == 100_000
    token = client.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "sandbox-admin-password"})
    page = client.get(
        "/api/v2.5/admin/attempts/",
        headers={"Authorization": f"JWT {token.get_json()['token']}"},
        query_string={"exams": 2, "page_size": 1000},
    ).get_json()
    assert page["count"] == 33_333 and len(page["results"]) == 1000


def test_seeded_attempts_score_consistently(app):
    with app.app_context():
        seed_attempts(200, exam_id=3, institute_ids_from=5000)
        attempts = db.session.scalars(db.select(Attempt)).all()
    assert {attempt.exam_id for attempt in attempts} == {3}
    assert sorted(int(attempt.institute_attempt_id) for attempt in attempts) == list(range(5000, 5200))
    for attempt in attempts:
        assert attempt.correct_answers_count + attempt.incorrect_answers_count + attempt.unanswered_count == 6
        assert attempt.score == 4 * attempt.correct_answers_count - attempt.incorrect_answers_count


def test_cli_init_db_and_seed_attempts(tmp_path):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "cli.sqlite"), "WEBHOOK_URL": ""})
    runner = app.test_cli_runner()
    assert "ready" in runner.invoke(args=["init-db"]).output
    result = runner.invoke(args=["seed-attempts", "50", "--exam", "2", "--state", "Running"])
    assert result.exit_code == 0 and "Seeded 50 attempts" in result.output
    assert count(app, Attempt, Attempt.exam_id == 2, Attempt.state == "Running") == 50
    assert count(app, User, User.username == "admin") == 1
    failed = runner.invoke(args=["seed-attempts", "5", "--exam", "42"])
    assert failed.exit_code != 0 and "no exam 42" in failed.output


def test_exams_match_the_seed_list_the_portal_imports(client):
    page = client.get("/sandbox/").get_data(as_text=True)
    for exam in EXAMS:
        assert f"http://localhost/exams/run/{exam['slug']}/start/" in page
        assert {"id", "slug", "title", "description", "questions"} <= set(exam)


def test_health_check(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_full_flow_over_http_in_a_thread(tmp_path, receiver):
    app = create_app(
        {"DATABASE": str(tmp_path / "live.sqlite"), "WEBHOOK_URL": receiver.url, "SECRET_KEY": "live-test"}
    )
    sandbox = start_in_thread(app)
    try:
        assert sandbox.url.startswith("http://localhost:")
        browser = requests.Session()
        browser.trust_env = False
        exam_page = browser.post(f"{sandbox.url}/exams/run/chemistry-quiz/start/", data=launch_form(), timeout=10)
        assert exam_page.status_code == 200 and "Chemistry Quiz" in exam_page.text
        returned = browser.post(exam_page.url, data={"q6": "2", "action": "submit"}, timeout=10)
        [form] = read_forms(returned.text)
        assert form["fields"]["status"] == "completed" and form["fields"]["score"] == "4.00"
        assert browser.get(f"{sandbox.url}/sandbox/webhooks/wait?timeout=10", timeout=15).json()["idle"] is True
        completed = json.loads(receiver.bodies[-1])
        assert completed["attempt_state"] == "completed"
        verify_webhook(receiver.bodies[-1], public_key=DEFAULTS["PUBLIC_KEY"], private_key=DEFAULTS["PRIVATE_KEY"])
    finally:
        sandbox.stop()
