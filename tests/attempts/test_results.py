"""`record_report` through the eyes of the results page: which values an attempt ends with."""

from dataclasses import fields

from portal.attempts.reconciliation import record_report
from portal.core.extensions import db
from portal.models import ResultColumns
from portal.results import RESULT_FIELDS, SIGNED_FIELDS, Report
from portal.testpress.reports import API_RESULT_KEYS, WEBHOOK_RESULT_KEYS
from portal.vocabulary import ReportSource
from tests.factories import make_attempt, make_exam, make_user


def test_a_trusted_source_keeps_the_fields_it_does_not_carry(app):
    attempt = make_attempt(make_user(), make_exam())
    record_report(attempt, Report("return", "completed", "93", total_count=4, correct_count=1, incorrect_count=3,
                                  unanswered_count=0, score=1.0, max_score=16.0, percentage=6.25, rank=2, max_rank=5))
    # The webhook signs the counts, score and percentage, but has no max_score or rank.
    record_report(attempt, Report("webhook", "completed", "93", total_count=4, correct_count=1, incorrect_count=3,
                                  unanswered_count=0, score=1.0, percentage=6.25))
    db.session.commit()
    assert attempt.score_source == "webhook" and attempt.verified
    assert (attempt.score, attempt.max_score, attempt.rank, attempt.max_rank) == (1.0, 16.0, 2, 5)
    assert not attempt.flagged


def test_a_later_return_fills_what_the_webhook_does_not_carry(app):
    attempt = make_attempt(make_user(), make_exam())
    record_report(attempt, Report("webhook", "completed", "93", total_count=4, correct_count=1, incorrect_count=3,
                                  unanswered_count=0, score=1.0, percentage=6.25))
    record_report(attempt, Report("return", "completed", "93", total_count=4, correct_count=1, incorrect_count=3,
                                  unanswered_count=0, score=1.0, max_score=16.0, percentage=6.25, rank=2, max_rank=5))
    db.session.commit()
    assert attempt.score_source == "webhook"
    assert (attempt.score, attempt.max_score, attempt.rank, attempt.max_rank) == (1.0, 16.0, 2, 5)


def test_a_later_return_never_overwrites_signed_scores(app):
    attempt = make_attempt(make_user(), make_exam())
    record_report(attempt, Report("webhook", "completed", "93", correct_count=1, score=1.0, percentage=6.25))
    record_report(attempt, Report("return", "completed", "93", correct_count=4, score=16.0, max_score=16.0,
                                  percentage=100.0))
    db.session.commit()
    assert (attempt.score, attempt.correct_count, attempt.percentage) == (1.0, 1, 6.25)
    assert attempt.flagged


def test_a_report_holds_the_result_fields_between_who_said_it_and_testpress_times():
    assert tuple(field.name for field in fields(Report)) == (
        "source", "status", "testpress_attempt_id", *RESULT_FIELDS, "started_at", "completed_at")
    assert tuple(ResultColumns.__annotations__) == RESULT_FIELDS  # the columns, in the same order


def test_what_each_signed_source_vouches_for_is_what_its_payload_carries():
    assert SIGNED_FIELDS == {ReportSource.WEBHOOK: set(WEBHOOK_RESULT_KEYS), ReportSource.API: set(API_RESULT_KEYS)}
