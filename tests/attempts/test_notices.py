"""Result emails to students (STUDENT_RESULT_EMAILS, off by default), queued as Testpress's
word is recorded, and the daily staff digest, queued only when something needs attention."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.attempts.notices import queue_staff_digest
from portal.attempts.reconciliation import record_report
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.mail import outbox
from portal.models import OutboxMessage
from portal.results import Report
from tests.factories import make_attempt, make_exam, make_staff, make_user

SCORES = {"total_count": 50, "correct_count": 42, "incorrect_count": 5, "unanswered_count": 3,
          "score": 163.0, "max_score": 200.0, "percentage": 81.5}


def report(source, scores=SCORES, completed_at=datetime(2026, 12, 1, 9, 0), **fields):
    return Report(source=source, status="completed", completed_at=completed_at, **scores, **fields)


def record(attempt, *reports):
    for one in reports:
        record_report(attempt, one)
    db.session.commit()


def queued():
    return [(row.kind, row.to_address, row.subject) for row in
            db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))]


@pytest.fixture
def results_app(make_app, mail_catcher):
    app = make_app(**mail_catcher.settings, STUDENT_RESULT_EMAILS=True)
    with app.app_context():
        yield app
        db.session.remove()


def test_a_student_hears_once_when_testpress_confirms_and_again_when_the_score_changes(results_app, mail_catcher):
    attempt = make_attempt(make_user("asha@example.com", "Asha Rao"), make_exam("Physics Mock 1"))
    record(attempt, report("return"))
    assert queued() == []  # the browser's word alone confirms nothing

    record(attempt, report("webhook"), report("webhook"))
    assert queued() == [("result_confirmed", "asha@example.com", "Exam portal: your result in Physics Mock 1 is "
                                                                  "confirmed")]
    record(attempt, report("api"))  # the same score again
    assert len(queued()) == 1

    record(attempt, report("api", {**SCORES, "score": 173.0, "percentage": 86.5},
                           completed_at=datetime(2026, 12, 1, 9, 30)))
    assert queued()[-1] == ("score_changed", "asha@example.com", "Exam portal: your score in Physics Mock 1 changed")
    outbox.send_due()
    changed = mail_catcher.received[-1].get_body(("plain",)).get_content()
    assert "has changed from 163 to 173 / 200" in changed
    confirmed = mail_catcher.received[0].get_body(("plain",)).get_content()
    assert "Testpress has confirmed your result in Physics Mock 1: 163 / 200 (81.5%)." in confirmed


def test_no_result_email_unless_the_setting_is_on(make_app, mail_catcher):
    app = make_app(**mail_catcher.settings)
    with app.app_context():
        attempt = make_attempt(make_user(), make_exam())
        record(attempt, report("webhook"))
        assert queued() == []


def test_no_result_email_for_an_attempt_not_launched_from_the_portal(results_app):
    attempt = make_attempt(make_user(), make_exam(), institute_attempt_id=None, launch_time=None)
    record(attempt, report("api"))
    assert queued() == []


def test_the_staff_digest_goes_only_when_something_needs_attention_and_once_a_day(results_app):
    boss, _inactive = make_staff("boss@example.com", "Boss"), make_staff("gone@example.com", active=False)
    assert queue_staff_digest() == 0
    make_attempt(make_user(), make_exam(), flagged=True, flag_reason="The browser return claimed another score")
    now = utcnow()

    assert queue_staff_digest(now) == 1
    db.session.commit()
    assert queue_staff_digest(now + timedelta(minutes=5)) == 0  # today's went out already
    db.session.commit()
    row = db.session.scalar(sa.select(OutboxMessage))
    assert (row.kind, row.to_address, row.recipient_id) == ("staff_digest", "boss@example.com", boss.id)
    assert "- 1 flagged attempt to resolve" in row.body_text
