"""Launch by HMAC: what the sandbox accepts and each refusal Testpress would make."""

import json
import time

import pytest

from testpress_sandbox.webhooks import wait_for_webhooks

from .helpers import launch, take_path


def reason(response) -> str:
    return response.get_data(as_text=True)


def test_a_signed_launch_opens_the_exam(client):
    response = launch(client)
    page = client.get(take_path(response))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Physics Mock 1" in text and "Take later" in text and "Submit" in text
    assert text.count('type="radio"') == 5 * 4


def test_launch_finds_or_creates_the_user_by_email(client, app):
    launch(client, institute_attempt_id="1")
    launch(client, institute_attempt_id="2", email="ASHA@example.com", first_name="Asha K")
    from testpress_sandbox.models import User, db

    with app.app_context():
        students = [user for user in db.session.scalars(db.select(User)) if not user.is_staff]
    assert [(user.email, user.first_name) for user in students] == [("asha@example.com", "Asha K")]


@pytest.mark.parametrize("missing", ["email", "first_name", "institute_attempt_id", "key", "time", "hmac", "surl"])
def test_each_missing_field_is_named(client, missing):
    response = launch(client, **{missing: ""})
    assert response.status_code == 400
    assert f"Missing field(s): {missing}." in reason(response)


def test_unknown_exam(client):
    response = launch(client, slug="no-such-exam")
    assert response.status_code == 404
    assert "no exam at this URL" in reason(response)


def test_unknown_key(client):
    response = launch(client, key="someone-elses-key")
    assert response.status_code == 403
    assert "Unknown institute key" in reason(response)


@pytest.mark.parametrize("hmac", ["0" * 64, "é" * 64], ids=["wrong digits", "non-ascii"])
def test_invalid_hmac(client, hmac):
    response = launch(client, hmac=hmac)
    assert response.status_code == 403
    assert "Invalid hmac" in reason(response)


def test_a_changed_field_breaks_the_hmac(client):
    from .helpers import launch_form

    form = launch_form()
    form["first_name"] = "Mallory"
    response = client.post("/exams/run/physics-mock-1/start/", data=form)
    assert response.status_code == 403
    assert "Invalid hmac" in reason(response)


def test_time_older_than_thirty_minutes(client):
    response = launch(client, time=str(int(time.time()) - 31 * 60))
    assert response.status_code == 403
    assert "expired" in reason(response)


def test_time_within_thirty_minutes_is_accepted(client):
    assert launch(client, time=str(int(time.time()) - 29 * 60)).status_code == 303


def test_time_in_the_future(client):
    response = launch(client, time=str(int(time.time()) + 5 * 60))
    assert response.status_code == 403
    assert "in the future" in reason(response)


def test_time_not_in_seconds(client):
    response = launch(client, time="2025-01-01T00:00:00")
    assert response.status_code == 400
    assert "whole seconds" in reason(response)


def test_relative_surl(client):
    response = launch(client, surl="/testpress/return")
    assert response.status_code == 400
    assert "surl" in reason(response)


def test_institute_attempt_id_of_a_completed_attempt_is_refused(client):
    client.post(take_path(launch(client)), data={"action": "submit"})
    response = launch(client)
    assert response.status_code == 409
    assert "already used by a completed attempt" in reason(response)


def test_institute_attempt_id_of_another_students_attempt_is_refused(client):
    launch(client)
    response = launch(client, email="ravi@example.com", first_name="Ravi")
    assert response.status_code == 409
    assert "another student" in reason(response)


def test_take_later_then_relaunch_resumes_with_answers_kept(client):
    first = take_path(launch(client))
    client.post(first, data={"q1": "1", "action": "later"})
    again = take_path(launch(client))
    assert again == first
    assert 'value="1"\n          checked' in client.get(again).get_data(as_text=True)


def test_refusal_pages_show_no_traceback(client):
    text = reason(launch(client, hmac="zz"))
    assert "Traceback" not in text and "Testpress sandbox" in text


def test_launch_sends_the_started_webhook(client, app, receiver):
    launch(client)
    wait_for_webhooks(app, timeout=10)
    [body] = receiver.bodies
    payload = json.loads(body)
    assert payload["attempt_state"] == "started"
    assert payload["institute_attempt_id"] == 100101
    assert payload["score"] == "0.00" and payload["correct_answers_count"] == 0
    assert payload["completed_on"] is None
