"""One trusted record from three sources: the return, the webhook and the Admin API.

First `portal.attempts.reconciliation.record_report` directly, then the same stories through the
return and webhook endpoints and the student's result page.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.attempts.reconciliation import record_report
from portal.core.extensions import db
from portal.models import Attempt
from portal.results import Report
from portal.testpress.signing import launch_hmac
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_user
from tests.web.testpress.test_webhook import completed_payload, post, signed_body, started_payload

SCORES = {"total_count": 50, "correct_count": 42, "incorrect_count": 5, "unanswered_count": 3,
          "score": 163.0, "percentage": 81.5}
TAMPERED = {**SCORES, "correct_count": 50, "incorrect_count": 0, "unanswered_count": 0,
            "score": 200.0, "percentage": 100.0}
RE_EVALUATED = {**SCORES, "correct_count": 44, "incorrect_count": 3, "score": 173.0, "percentage": 86.5}


def report(source, status="completed", scores=SCORES, **fields) -> Report:
    return Report(source=source, status=status, **(scores if status == "completed" else {}), **fields)


def record_of(attempt: Attempt) -> tuple:
    """What a student or staff member can observe about an attempt."""
    return (
        attempt.status, attempt.testpress_attempt_id, attempt.score, attempt.percentage, attempt.correct_count,
        attempt.score_source, attempt.verified, attempt.flagged,
        attempt.return_seen_at is not None, attempt.webhook_seen_at is not None, attempt.api_seen_at is not None,
        sorted((r.source, r.status, r.score) for r in attempt.reports),
    )


@pytest.fixture
def new_attempt(app):
    student, exam = make_user(), make_exam(testpress_id=12)
    return lambda: make_attempt(student, exam)


def replay(attempt: Attempt, *reports: Report) -> Attempt:
    for one in reports:
        record_report(attempt, one)
    db.session.commit()
    return attempt


# -- record_report ------------------------------------------------------------------------


def test_return_and_webhook_in_either_order_give_the_same_record(new_attempt):
    first = replay(new_attempt(), report("return"), report("webhook"))
    second = replay(new_attempt(), report("webhook"), report("return"))

    assert record_of(first) == record_of(second)
    assert (first.score, first.score_source, first.verified, first.flagged) == (163.0, "webhook", True, False)


def test_a_return_alone_is_shown_but_unverified(new_attempt):
    attempt = replay(new_attempt(), report("return"))
    assert (attempt.score, attempt.score_source, attempt.verified) == (163.0, "return", False)


@pytest.mark.parametrize("order", ["return first", "webhook first"])
def test_a_return_disagreeing_with_the_webhook_is_flagged_and_the_webhook_wins(new_attempt, order):
    reports = [report("return", scores=TAMPERED), report("webhook")]
    attempt = replay(new_attempt(), *(reports if order == "return first" else reversed(reports)))

    assert attempt.flagged
    assert "200" in attempt.flag_reason and "163" in attempt.flag_reason
    assert (attempt.score, attempt.correct_count, attempt.score_source) == (163.0, 42, "webhook")


def test_the_api_outranks_the_webhook_whatever_arrives_later(new_attempt):
    attempt = replay(new_attempt(), report("api", scores=RE_EVALUATED), report("webhook"), report("return"))

    assert (attempt.score, attempt.score_source) == (173.0, "api")
    # The return matches the webhook's signed report, so it is genuine, not tampering.
    assert not attempt.flagged


def test_the_webhook_outranks_a_return_arriving_later(new_attempt):
    attempt = replay(new_attempt(), report("webhook"), report("return", scores=TAMPERED))
    assert (attempt.score, attempt.score_source, attempt.flagged) == (163.0, "webhook", True)


def test_re_evaluation_updates_the_scores_and_keeps_the_history(new_attempt):
    attempt = replay(new_attempt(), report("return"), report("webhook"), report("webhook", scores=RE_EVALUATED))

    assert (attempt.score, attempt.correct_count, attempt.score_source) == (173.0, 44, "webhook")
    assert [(r.source, r.score) for r in attempt.reports] == [("return", 163.0), ("webhook", 163.0), ("webhook", 173.0)]
    # The student's return matched Testpress at the time: the re-evaluation does not make it suspect.
    assert not attempt.flagged


def test_replaying_every_report_changes_nothing(new_attempt):
    reports = [report("return"), report("webhook", "started"), report("webhook"), report("api")]
    attempt = replay(new_attempt(), *reports)
    before = record_of(attempt)

    assert not any(record_report(attempt, one) for one in reports)
    assert record_of(attempt) == before


def test_a_repeated_report_with_a_new_fact_changes_the_attempt_but_not_its_history(new_attempt):
    attempt = replay(new_attempt(), report("webhook"))
    assert attempt.testpress_attempt_id is None

    assert record_report(attempt, report("webhook", testpress_attempt_id="9001")) is True
    assert attempt.testpress_attempt_id == "9001"
    assert [(r.source, r.status) for r in attempt.reports] == [("webhook", "completed")]


def test_a_signed_report_corrects_the_testpress_id_only_a_return_claimed(new_attempt):
    attempt = replay(new_attempt(), report("return", testpress_attempt_id="6666"))

    replay(attempt, report("webhook", testpress_attempt_id="9001"), report("api", testpress_attempt_id="7777"))

    # The webhook's signed id replaces the return's claim; after that only a launch's first signed id stands.
    assert attempt.testpress_attempt_id == "9001"


def test_a_late_started_report_never_reopens_a_completed_attempt(new_attempt):
    attempt = replay(new_attempt(), report("webhook"), report("webhook", "started"), report("api", "started"))
    assert (attempt.status, attempt.score) == ("completed", 163.0)


def test_an_attempt_taken_outside_the_portal_dates_from_testpress(app):
    outside = Attempt(student=make_user(), exam=make_exam(), status="launched", started_at=datetime(2030, 1, 1))
    db.session.add(outside)
    replay(outside, report("api", started_at=datetime(2025, 5, 1, 9, 30)))
    assert outside.started_at == datetime(2025, 5, 1, 9, 30)


# -- through the endpoints and the student's page -------------------------------------------


def return_fields(attempt: Attempt, scores=SCORES) -> dict:
    """The browser return Testpress sends for `attempt`, hmac and all (it does not cover the scores)."""
    fields = {
        "email": attempt.student.email, "first_name": attempt.student.name, "attempt_id": "9001",
        "institute_attempt_id": str(attempt.institute_attempt_id), "status": "completed",
        **{name: f"{value:g}" for name, value in scores.items()},
    }
    fields["hmac"] = launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], email=fields["email"], first_name=fields["first_name"],
        institute_attempt_id=fields["institute_attempt_id"], key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
        time=attempt.launch_time,
    )
    return fields


@pytest.fixture
def launched(app):
    student = make_user("asha@example.com", "Asha")
    return make_attempt(student, make_exam("Physics Mock 1", testpress_id=12), institute_attempt_id=100101)


def deliver(client, launched, source, scores=SCORES):
    if source == "return":
        response = client.post("/testpress/return", data=return_fields(launched, scores))
        assert response.status_code == 303
    else:
        response = post(client, signed_body(completed_payload(institute_attempt_id=launched.institute_attempt_id)))
        assert response.status_code == 200


@pytest.mark.parametrize("order", [("return", "webhook"), ("webhook", "return")])
def test_endpoints_in_either_order_give_one_verified_record(client, auth, launched, order):
    for source in order:
        deliver(client, launched, source)

    attempts = db.session.scalars(db.select(Attempt)).all()
    assert [a.id for a in attempts] == [launched.id]
    db.session.refresh(launched)
    assert (launched.status, launched.testpress_attempt_id, launched.score, launched.score_source) == (
        "completed", "9001", 163.0, "webhook")
    assert not launched.flagged
    assert {r.source for r in launched.reports} == {"return", "webhook"}

    auth.login("asha@example.com")
    page = client.get(f"/attempts/{launched.id}").get_data(as_text=True)
    assert "163" in page and "Verified by Testpress" in page


def test_a_tampered_return_shows_the_trusted_score_and_is_flagged_for_staff(client, auth, launched):
    deliver(client, launched, "return", TAMPERED)
    auth.login("asha@example.com")
    before = client.get(f"/attempts/{launched.id}").get_data(as_text=True)
    assert "200" in before and "Not yet verified" in before

    deliver(client, launched, "webhook")

    after = client.get(f"/attempts/{launched.id}").get_data(as_text=True)
    assert "Verified by Testpress" in after and "163" in after
    db.session.refresh(launched)
    assert launched.flagged and launched.score == 163.0


def test_a_return_claiming_another_testpress_attempt_is_corrected_by_the_webhook(client, auth, launched):
    fields = {**return_fields(launched, TAMPERED), "attempt_id": "6666"}  # outside the hmac, as the scores
    assert client.post("/testpress/return", data=fields).status_code == 303

    deliver(client, launched, "webhook")  # Testpress's signed word: attempt 9001 for this launch

    assert [a.id for a in db.session.scalars(db.select(Attempt))] == [launched.id]
    db.session.refresh(launched)
    assert (launched.testpress_attempt_id, launched.score, launched.score_source) == ("9001", 163.0, "webhook")
    assert launched.flagged
    auth.login("asha@example.com")
    review = client.get(f"/attempts/{launched.id}/review")
    assert review.status_code == 302 and "9001" in review.headers["Location"]


def test_a_started_webhook_after_the_return_keeps_the_result(client, launched):
    deliver(client, launched, "return")
    post(client, signed_body(started_payload(institute_attempt_id=launched.institute_attempt_id)))

    db.session.refresh(launched)
    assert (launched.status, launched.score, launched.score_source) == ("completed", 163.0, "return")
