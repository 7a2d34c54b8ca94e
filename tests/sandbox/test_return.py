"""Taking an exam and the signed return to the institute's surl."""

import json
import time

import pytest

from portal.testpress.signing import verify_launch_hmac
from testpress_sandbox import faults
from testpress_sandbox.attempts import evaluate_attempt, reevaluate_attempt
from testpress_sandbox.config import DEFAULTS
from testpress_sandbox.webhooks import wait_for_webhooks

from .helpers import SURL, answer_and_leave, launch, launch_form, take_path

RETURN_FIELDS = [
    "email", "first_name", "attempt_id", "institute_attempt_id", "total_count", "correct_count", "incorrect_count",
    "unanswered_count", "score", "max_score", "rank", "max_rank", "percentage", "status", "hmac",
]
# Physics Mock 1's questions are 1-5 with correct options 1, 0, 2, 1, 2.
THREE_RIGHT_ONE_WRONG = {1: 1, 2: 0, 3: 0, 5: 2}


def signed_by_launch(fields: dict, launch_time: str) -> bool:
    return verify_launch_hmac(
        DEFAULTS["SECRET"],
        fields["hmac"],
        email=fields["email"],
        first_name=fields["first_name"],
        institute_attempt_id=fields["institute_attempt_id"],
        key=DEFAULTS["PUBLIC_KEY"],
        time=launch_time,
    )


def test_submit_returns_every_documented_field_signed_with_the_launch_time(client):
    form_sent = launch_form(time=str(int(time.time()) - 120))
    take = take_path(client.post("/exams/run/physics-mock-1/start/", data=form_sent))

    form = answer_and_leave(client, take, THREE_RIGHT_ONE_WRONG)

    assert (form["action"], form["method"]) == (SURL, "post")
    fields = form["fields"]
    assert list(fields) == RETURN_FIELDS
    assert {name: value for name, value in fields.items() if name not in ("attempt_id", "hmac")} == {
        "email": "asha@example.com",
        "first_name": "Asha",
        "institute_attempt_id": "100101",
        "total_count": "5",
        "correct_count": "3",
        "incorrect_count": "1",
        "unanswered_count": "1",
        "score": "11.00",
        "max_score": "20.00",
        "rank": "1",
        "max_rank": "1",
        "percentage": "55.00",
        "status": "completed",
    }
    assert fields["attempt_id"].isdigit()
    assert signed_by_launch(fields, form_sent["time"])
    assert not signed_by_launch(fields, str(int(form_sent["time"]) + 1))


def test_return_page_auto_submits_from_an_external_script_with_a_visible_button(client):
    take = take_path(launch(client))
    response = client.post(take, data={"action": "submit"})
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "data-autosubmit" in html
    assert '<script src="/static/autosubmit.js" defer></script>' in html
    assert html.count("<script") == 1
    assert '<button type="submit">Return to your institute</button>' in html
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self' covers it
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/static/autosubmit.js").status_code == 200


def test_rank_among_completed_attempts_of_the_exam(client):
    everything_right = {1: 1, 2: 0, 3: 2, 4: 1, 5: 2}
    first = answer_and_leave(client, take_path(launch(client, institute_attempt_id="1")), THREE_RIGHT_ONE_WRONG)
    second = answer_and_leave(
        client, take_path(launch(client, institute_attempt_id="2", email="ravi@example.com")), everything_right
    )
    third = answer_and_leave(client, take_path(launch(client, institute_attempt_id="3", email="zoe@example.com")), {})
    assert (first["fields"]["rank"], first["fields"]["max_rank"]) == ("1", "1")
    assert (second["fields"]["rank"], second["fields"]["max_rank"], second["fields"]["percentage"]) == (
        "1", "2", "100.00")
    assert (third["fields"]["rank"], third["fields"]["max_rank"], third["fields"]["score"]) == ("3", "3", "0.00")


def test_take_later_returns_cancelled_without_attempt_or_scores(client):
    form = answer_and_leave(client, take_path(launch(client)), {1: 1}, action="later")
    fields = form["fields"]
    assert fields["status"] == "cancelled"
    assert fields["attempt_id"] == ""
    for name in ("correct_count", "incorrect_count", "unanswered_count", "score", "rank", "max_rank", "percentage"):
        assert fields[name] == "", name


def test_cancelled_return_is_signed_with_the_launch_time(client):
    sent = launch_form()
    take = take_path(client.post("/exams/run/maths-drill/start/", data=sent))
    fields = answer_and_leave(client, take, {}, action="later")["fields"]
    assert signed_by_launch(fields, sent["time"])


def test_submitted_attempt_cannot_be_answered_again(client):
    take = take_path(launch(client))
    client.post(take, data={"action": "submit"})
    again = client.post(take, data={"q1": "1", "action": "submit"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/return/")


def test_pending_results_then_evaluation_sends_completed_webhook(client, app, receiver):
    faults.set_faults({"pending_results": True})
    take = take_path(launch(client))
    fields = answer_and_leave(client, take, THREE_RIGHT_ONE_WRONG)["fields"]
    assert fields["status"] == "pending"
    assert fields["attempt_id"].isdigit() and fields["score"] == ""

    response = client.post(f"/sandbox/attempts/{fields['attempt_id']}/evaluate", json={})
    assert response.status_code == 200
    wait_for_webhooks(app, timeout=10)
    states = [json.loads(body)["attempt_state"] for body in receiver.bodies]
    assert states == ["started", "completed"]
    assert json.loads(receiver.bodies[-1])["score"] == "11.00"


def test_evaluating_an_attempt_not_pending_is_refused(client, app):
    fields = answer_and_leave(client, take_path(launch(client)), {})["fields"]
    with app.app_context():
        with pytest.raises(ValueError, match="not pending"):
            evaluate_attempt(int(fields["attempt_id"]))
    assert client.post(f"/sandbox/attempts/{fields['attempt_id']}/evaluate", json={}).status_code == 409
    assert client.post("/sandbox/attempts/999/evaluate", json={}).status_code == 404


def test_reevaluation_changes_the_score_and_sends_a_new_completed_webhook(client, app, receiver):
    fields = answer_and_leave(client, take_path(launch(client)), THREE_RIGHT_ONE_WRONG)["fields"]
    attempt_id = int(fields["attempt_id"])
    with app.app_context():
        attempt = reevaluate_attempt(attempt_id, 4)
        assert (attempt.correct_answers_count, attempt.incorrect_answers_count, attempt.score_text) == (4, 0, "16.00")
    response = client.post(f"/sandbox/attempts/{attempt_id}/reevaluate", json={"correct_answers_count": 2})
    assert response.status_code == 200
    wait_for_webhooks(app, timeout=10)
    scores = [json.loads(body)["score"] for body in receiver.bodies if json.loads(body)["attempt_state"] == "completed"]
    # Re-evaluated to 2 right: the four answered questions stay answered, so 2 wrong: 8 - 2.
    assert scores == ["11.00", "16.00", "6.00"]


def test_reevaluation_refusals(client, app):
    fields = answer_and_leave(client, take_path(launch(client)), {})["fields"]
    url = f"/sandbox/attempts/{fields['attempt_id']}/reevaluate"
    assert client.post(url, json={"correct_answers_count": 6}).status_code == 409
    assert client.post(url, json={"correct_answers_count": "many"}).status_code == 400
    assert client.post("/sandbox/attempts/999/reevaluate", json={"correct_answers_count": 1}).status_code == 404
