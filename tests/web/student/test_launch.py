"""The launch: POST /exams/<id>/start records the launch and answers the signed, self-submitting form."""

import json
import re
from datetime import UTC, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from portal.attempts import launching as launch
from portal.attempts.launching import LaunchFailed, clock_attempt_id, record_launch
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Attempt, User
from portal.testpress.launch import launch_fields
from portal.testpress.settings import TestpressSettings
from portal.testpress.signing import launch_hmac, verify_launch_hmac
from tests import VECTORS_FILE
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_user

VECTORS = json.loads(VECTORS_FILE.read_text())


class FormReader(HTMLParser):
    """Collects the launch form's action and hidden fields, and every script tag."""

    def __init__(self):
        super().__init__()
        self.action, self.fields, self.scripts, self.buttons = None, {}, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "testpress-launch":
            self.action = attrs["action"]
        elif tag == "input" and attrs.get("type") == "hidden" and attrs.get("name") != "csrf_token":
            self.fields[attrs["name"]] = attrs["value"]
        elif tag == "script":
            self.scripts.append(attrs)

    def handle_data(self, data):
        if data.strip() == "Continue to Testpress":
            self.buttons.append(data.strip())


def read_form(response) -> FormReader:
    reader = FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader


def attempts_of(user) -> list[Attempt]:
    return db.session.scalars(sa.select(Attempt).where(Attempt.student_id == user.id)).all()


@pytest.fixture
def student(auth):
    user = make_user("ravi+tests@example.com", "Ravi Kumar")
    auth.login(user.email)
    return user


def test_start_records_the_launch_and_answers_the_signed_form(client, student):
    exam = make_exam(exam_url="https://testpress.example/exams/run/physics/start/")

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 200
    form = read_form(response)
    assert form.action == "https://testpress.example/exams/run/physics/start/"
    assert list(form.fields) == ["email", "first_name", "institute_attempt_id", "key", "time", "hmac", "surl"]
    [attempt] = attempts_of(student)
    assert attempt.status == "launched"
    assert attempt.exam_id == exam.id
    assert form.fields["email"] == "ravi+tests@example.com"
    assert form.fields["first_name"] == "Ravi Kumar"  # the full name: the portal has one name field
    assert form.fields["institute_attempt_id"] == str(attempt.institute_attempt_id)
    assert form.fields["key"] == TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"]
    assert form.fields["time"] == str(attempt.launch_time)
    assert form.fields["surl"] == "http://localhost/testpress/return"
    assert verify_launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], form.fields["hmac"],
        **{name: form.fields[name] for name in ("email", "first_name", "institute_attempt_id", "key", "time")},
    )


def test_launch_page_submits_itself_with_an_external_script_and_offers_a_button(client, student):
    exam = make_exam()

    response = client.post(f"/exams/{exam.id}/start")

    form = read_form(response)
    assert form.buttons == ["Continue to Testpress"]
    assert form.scripts and all(script.get("src") for script in form.scripts)  # nothing inline for CSP to block
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    scripts = [client.get(script["src"]) for script in form.scripts]
    assert all(script.status_code == 200 for script in scripts)
    assert any("form[data-autosubmit]" in script.get_data(as_text=True) for script in scripts)


def test_launch_time_is_the_moment_of_the_start(client, student):
    exam = make_exam()

    client.post(f"/exams/{exam.id}/start")

    [attempt] = attempts_of(student)
    # started_at (naive UTC) and the signed time are one and the same moment.
    assert int(attempt.started_at.replace(tzinfo=UTC).timestamp()) == attempt.launch_time


def test_start_after_a_completed_attempt_is_a_new_launch_with_a_new_reference(client, student):
    exam = make_exam()
    first = read_form(client.post(f"/exams/{exam.id}/start")).fields
    attempts_of(student)[0].status = "completed"
    db.session.commit()

    second = read_form(client.post(f"/exams/{exam.id}/start")).fields

    assert int(second["institute_attempt_id"]) > int(first["institute_attempt_id"])
    assert len(attempts_of(student)) == 2


@pytest.mark.parametrize("status", ["launched", "started", "cancelled"])
def test_resume_signs_the_unfinished_attempt_again(client, student, status):
    exam = make_exam()
    first = read_form(client.post(f"/exams/{exam.id}/start")).fields
    attempts_of(student)[0].status = status
    attempts_of(student)[0].launch_time -= 600  # signed ten minutes ago
    db.session.commit()

    second = read_form(client.post(f"/exams/{exam.id}/start")).fields

    assert second["institute_attempt_id"] == first["institute_attempt_id"]
    db.session.expire_all()
    (attempt,) = attempts_of(student)
    # Re-signed now, and the return will be checked against this new time.
    assert str(attempt.launch_time) == second["time"]
    assert int(second["time"]) >= int(first["time"])
    assert second["hmac"] == launch_hmac(TEST_SETTINGS["TESTPRESS_SECRET"], **{
        name: second[name] for name in ("email", "first_name", "institute_attempt_id", "key", "time")})


def test_reference_never_falls_below_an_id_already_stored(client, student):
    exam = make_exam()
    # An id from the future (a clock that ran fast once) must still not be reused or undercut.
    far_future = 9_000_000_000_000_000_000
    make_attempt(make_user(), exam, institute_attempt_id=far_future)

    fields = read_form(client.post(f"/exams/{exam.id}/start")).fields

    assert int(fields["institute_attempt_id"]) == far_future + 1


def test_clock_reference_is_epoch_milliseconds_with_randomness():
    now_ms = 1_763_700_000_123
    drawn = {clock_attempt_id(now_ms) for _ in range(200)}
    assert all(now_ms * 1000 <= value <= now_ms * 1000 + 999 for value in drawn)
    assert len(drawn) > 1
    assert clock_attempt_id(now_ms, floor=now_ms * 1000 + 5000) == now_ms * 1000 + 5001


def test_record_launch_draws_again_when_the_reference_collides(app, monkeypatch):
    student, exam = make_user(), make_exam()
    taken = make_attempt(student, exam).institute_attempt_id
    draws = iter([taken, taken + 7])
    monkeypatch.setattr(launch, "clock_attempt_id", lambda now_ms, floor=0: next(draws))

    attempt = record_launch(student, exam)

    assert attempt.institute_attempt_id == taken + 7
    assert len(attempts_of(student)) == 2


def test_record_launch_gives_up_after_repeated_collisions(app, monkeypatch):
    student, exam = make_user(), make_exam()
    taken = make_attempt(student, exam).institute_attempt_id
    monkeypatch.setattr(launch, "clock_attempt_id", lambda now_ms, floor=0: taken)

    with pytest.raises(LaunchFailed):
        record_launch(student, exam)
    assert len(attempts_of(student)) == 1


@pytest.mark.parametrize("vector", VECTORS["launch"], ids=lambda v: v["name"])
def test_launch_fields_reproduce_the_golden_vectors(app, vector):
    values = vector["fields"]
    student = User(email=values["email"], name=values["first_name"], password_hash="-")
    attempt = Attempt(student=student, institute_attempt_id=int(values["institute_attempt_id"]),
                      launch_time=int(values["time"]))
    settings = TestpressSettings.from_config({
        **app.config, "TESTPRESS_PUBLIC_KEY": values["key"], "TESTPRESS_SECRET": vector["secret"],
        "TESTPRESS_PERCENT_ENCODING": vector["encoding"],
    })

    fields = launch_fields(attempt, "https://portal.example/testpress/return", settings)

    assert fields["hmac"] == vector["digest"]
    assert fields["surl"] == "https://portal.example/testpress/return"
    db.session.expunge_all()  # the unsaved rows above must not reach the database


def test_closed_exam_cannot_be_started_even_by_a_forged_post(client, student):
    exam = make_exam("Old Mock", closes_at=utcnow() - timedelta(hours=1))

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 403
    assert "“Old Mock” has closed" in response.get_data(as_text=True)
    assert attempts_of(student) == []


def test_upcoming_exam_cannot_be_started_yet(client, student):
    exam = make_exam("Next Mock", opens_at=utcnow() + timedelta(days=1))

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "“Next Mock” is not open yet: it opens " in text and "Come back then to start it." in text
    assert '<a class="button primary" href="/exams/">Back to my exams</a>' in text
    assert "&lt;time" not in text  # the opening time as words, not as escaped markup
    assert attempts_of(student) == []


@pytest.mark.parametrize("published", [False, None])
def test_unpublished_or_unknown_exam_is_not_found(client, student, published):
    exam_id = make_exam(published=False).id if published is False else 999

    response = client.post(f"/exams/{exam_id}/start")

    assert response.status_code == 404
    assert attempts_of(student) == []


def test_start_needs_a_login(client):
    exam = make_exam()

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert db.session.scalar(sa.select(sa.func.count(Attempt.id))) == 0


def test_start_is_post_only(client, student):
    assert client.get(f"/exams/{make_exam().id}/start").status_code == 405


def test_start_refuses_a_post_without_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        email, exam_id = make_user().email, make_exam().id
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"email": email, "password": "correct horse battery staple", "csrf_token": token})

    forged = client.post(f"/exams/{exam_id}/start")
    exams_page = client.get("/exams/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', exams_page).group(1)
    genuine = client.post(f"/exams/{exam_id}/start", data={"csrf_token": token})

    assert forged.status_code == 400
    assert genuine.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Attempt.id))) == 1


def test_start_answers_503_when_no_reference_can_be_stored(client, student, monkeypatch):
    exam = make_exam()
    taken = make_attempt(make_user(), exam, status="completed").institute_attempt_id
    monkeypatch.setattr(launch, "clock_attempt_id", lambda now_ms, floor=0: taken)

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 503
    assert "could not be started just now" in response.get_data(as_text=True)
    assert attempts_of(student) == []
