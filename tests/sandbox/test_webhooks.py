"""Exam webhooks: the signed body, retries with backoff, the delivery log and webhook faults."""

import json

import pytest

from portal.testpress.signing import verify_webhook
from testpress_sandbox import faults
from testpress_sandbox.config import DEFAULTS
from testpress_sandbox.models import WebhookDelivery, db
from testpress_sandbox.webhooks import dispatcher, wait_for_webhooks

from .helpers import answer_and_leave, launch, take_path

THREE_RIGHT_ONE_WRONG = {1: 1, 2: 0, 3: 0, 5: 2}


def complete_an_attempt(client) -> str:
    return answer_and_leave(client, take_path(launch(client)), THREE_RIGHT_ONE_WRONG)["fields"]["attempt_id"]


def delivery_log(app) -> list[tuple[str, int, int | None, str]]:
    with app.app_context():
        entries = db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [(entry.event, entry.try_number, entry.status_code, entry.outcome) for entry in entries]


def test_completed_webhook_is_hashed_as_the_contract_reads(client, app, receiver):
    attempt_id = complete_an_attempt(client)
    wait_for_webhooks(app, timeout=10)

    started, completed = receiver.bodies
    for body in (started, completed):
        verify_webhook(body, public_key=DEFAULTS["PUBLIC_KEY"], private_key=DEFAULTS["PRIVATE_KEY"],
                       algorithms=("sha512",))
    payload = json.loads(completed)
    assert len(payload["hash"]) == 128
    assert payload["attempt_id"] == int(attempt_id)
    assert {name: payload[name] for name in (
        "attempt_state", "institute_attempt_id", "total_count", "correct_answers_count", "incorrect_answers_count",
        "unanswered_answers_count", "partial_correct_answers_count", "score", "percentage", "key", "email", "username",
    )} == {
        "attempt_state": "completed",
        "institute_attempt_id": 100101,
        "total_count": 5,
        "correct_answers_count": 3,
        "incorrect_answers_count": 1,
        "unanswered_answers_count": 1,
        "partial_correct_answers_count": 0,
        "score": "11.00",
        "percentage": "55.00",
        "key": DEFAULTS["PUBLIC_KEY"],
        "email": "asha@example.com",
        "username": "asha",
    }
    assert isinstance(payload["user_id"], int)
    assert payload["exam"] == {
        "id": 1, "title": "Physics Mock 1", "duration": "0:30:00",
        "start_date": "2025-01-01T00:00:00.000000Z", "end_date": None,
    }
    assert payload["completed_on"].endswith("Z") and payload["attempt_start_time"].endswith("Z")


def test_a_tampered_body_no_longer_verifies(client, app, receiver):
    complete_an_attempt(client)
    wait_for_webhooks(app, timeout=10)
    tampered = receiver.bodies[-1].replace(b'"score": "11.00"', b'"score": "19.00"')
    with pytest.raises(ValueError, match="does not match"):
        verify_webhook(tampered, public_key=DEFAULTS["PUBLIC_KEY"], private_key=DEFAULTS["PRIVATE_KEY"])


def test_non_2xx_answers_are_retried_until_delivered(client, app, receiver):
    receiver.statuses.extend([500, 503])
    launch(client)
    wait_for_webhooks(app, timeout=10)
    assert len(receiver.bodies) == 3 and len(set(receiver.bodies)) == 1
    assert delivery_log(app) == [
        ("started", 1, 500, "retrying"),
        ("started", 2, 503, "retrying"),
        ("started", 3, 200, "delivered"),
    ]


def test_retries_stop_after_the_configured_attempts(client, app, receiver):
    receiver.statuses.extend([500, 500, 500, 500])
    launch(client)
    wait_for_webhooks(app, timeout=10)
    assert [entry[3] for entry in delivery_log(app)] == ["retrying", "retrying", "failed"]


def test_an_unreachable_portal_is_retried_and_logged(client, app, receiver):
    app.config["WEBHOOK_URL"] = "http://127.0.0.1:9/testpress/webhook"  # discard port: nothing listens
    launch(client)
    wait_for_webhooks(app, timeout=15)
    log = delivery_log(app)
    assert [(event, try_number, status) for event, try_number, status, _ in log] == [
        ("started", 1, None), ("started", 2, None), ("started", 3, None),
    ]
    with app.app_context():
        assert "ConnectionError" in db.session.scalars(db.select(WebhookDelivery.error)).first()


def test_an_empty_webhook_url_sends_nothing(client, app, receiver):
    app.config["WEBHOOK_URL"] = ""
    complete_an_attempt(client)
    wait_for_webhooks(app, timeout=1)
    assert receiver.bodies == [] and delivery_log(app) == []


def test_duplicate_fault_delivers_each_webhook_twice(client, app, receiver):
    faults.set_faults({"webhook_duplicate": True})
    complete_an_attempt(client)
    wait_for_webhooks(app, timeout=10)
    states = [json.loads(body)["attempt_state"] for body in receiver.bodies]
    assert states == ["started", "started", "completed", "completed"]


def test_reorder_fault_sends_completed_before_started(client, app, receiver):
    faults.set_faults({"webhook_reorder": True})
    complete_an_attempt(client)
    wait_for_webhooks(app, timeout=10)
    assert [json.loads(body)["attempt_state"] for body in receiver.bodies] == ["completed", "started"]


def test_delay_fault_holds_the_webhook_back(client, app, receiver):
    faults.set_faults({"webhook_delay": 600})
    launch(client)
    assert dispatcher(app).unfinished == 1
    assert receiver.bodies == []
    with pytest.raises(TimeoutError):
        wait_for_webhooks(app, timeout=0.05)


def test_delivery_log_page_and_json(client, app, receiver):
    receiver.statuses.append(500)
    launch(client)
    wait_for_webhooks(app, timeout=10)
    page = client.get("/sandbox/webhooks", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Webhook deliveries" in page and "retrying" in page and "delivered" in page
    log = client.get("/sandbox/webhooks", headers={"Accept": "application/json"}).get_json()
    assert [entry["outcome"] for entry in log["deliveries"]] == ["delivered", "retrying"]
    assert log["unfinished"] == 0


def test_wait_endpoint_reports_an_idle_queue(client, app, receiver):
    launch(client)
    answer = client.get("/sandbox/webhooks/wait?timeout=10")
    assert answer.status_code == 200 and answer.get_json() == {"idle": True, "unfinished": 0}
    assert len(receiver.bodies) == 1
