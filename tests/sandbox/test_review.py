"""Review by HMAC: the signed link shows the attempt's questions, answers and the correct ones."""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from portal.testpress.signing import review_url
from testpress_sandbox import faults
from testpress_sandbox.config import DEFAULTS

from .helpers import answer_and_leave, launch, take_path

# Physics Mock 1: question 1's answer is "newton", question 3's "9.8 m/s²".
ANSWERS = {1: 1, 3: 0}


def completed_attempt(client) -> str:
    return answer_and_leave(client, take_path(launch(client)), ANSWERS)["fields"]["attempt_id"]


def signed_review(attempt_id, *, institute_attempt_id="100101", signed_at=None, secret=DEFAULTS["SECRET"],
                  key=DEFAULTS["PUBLIC_KEY"]):
    url = review_url(
        "http://localhost",
        secret,
        attempt_id=attempt_id,
        institute_attempt_id=institute_attempt_id,
        key=key,
        time=int(time.time()) if signed_at is None else signed_at,
    )
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_review_shows_answers_and_correct_ones(client):
    response = client.get(signed_review(completed_attempt(client)))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Review: Physics Mock 1" in html
    assert '<span class="your-answer correct">newton</span>' in html
    assert '<span class="your-answer wrong">1.6 m/s²</span>' in html
    assert html.count("not answered") == 3
    assert html.count("correct-answer") == 5 and "9.8 m/s²" in html


def test_a_tampered_parameter_is_refused(client):
    path, query = signed_review(completed_attempt(client)).split("?")
    params = dict(parse_qsl(query))
    params["id"] = str(int(params["id"]) + 1)
    response = client.get(f"{path}?{urlencode(params)}")
    assert response.status_code == 403
    assert "Invalid hmac" in response.get_data(as_text=True)


def test_wrong_secret(client):
    assert client.get(signed_review(completed_attempt(client), secret="not-the-secret")).status_code == 403


def test_unknown_key(client):
    response = client.get(signed_review(completed_attempt(client), key="other-key"))
    assert response.status_code == 403 and "Unknown institute key" in response.get_data(as_text=True)


def test_link_older_than_thirty_minutes(client):
    response = client.get(signed_review(completed_attempt(client), signed_at=int(time.time()) - 31 * 60))
    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)


def test_link_from_the_future(client):
    response = client.get(signed_review(completed_attempt(client), signed_at=int(time.time()) + 600))
    assert response.status_code == 403 and "future" in response.get_data(as_text=True)


@pytest.mark.parametrize("dropped", ["id", "institute_attempt_id", "key", "time", "hmac"])
def test_each_missing_parameter_is_named(client, dropped):
    path, query = signed_review(completed_attempt(client)).split("?")
    params = {name: value for name, value in parse_qsl(query) if name != dropped}
    response = client.get(f"{path}?{urlencode(params)}")
    assert response.status_code == 400 and dropped in response.get_data(as_text=True)


def test_institute_attempt_id_must_be_the_attempts_own(client):
    response = client.get(signed_review(completed_attempt(client), institute_attempt_id="999"))
    assert response.status_code == 404


def test_a_running_attempt_has_nothing_to_review(client):
    answer_and_leave(client, take_path(launch(client)), ANSWERS, action="later")
    from testpress_sandbox.models import Attempt, db

    with client.application.app_context():
        attempt_id = db.session.scalar(db.select(Attempt.id))
    assert client.get(signed_review(attempt_id)).status_code == 409


def test_a_pending_attempt_is_not_reviewable_until_evaluated(client):
    faults.set_faults({"pending_results": True})
    attempt_id = completed_attempt(client)
    assert client.get(signed_review(attempt_id)).status_code == 409
    client.post(f"/sandbox/attempts/{attempt_id}/evaluate", json={})
    assert client.get(signed_review(attempt_id)).status_code == 200
