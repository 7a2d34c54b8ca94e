"""exam_stats, the dashboard's kept counts, equal a full recount after every way a result arrives."""

import pytest
import sqlalchemy as sa

from portal.attempts.launching import record_launch
from portal.core.extensions import db
from portal.exams import stats as exam_stats
from portal.models import Attempt, ExamStats, SyncRun
from portal.testpress.sync import PageRecorder, record_page
from tests.attempts.test_integrity import api_attempt
from tests.factories import make_attempt, make_exam, make_user
from tests.web.testpress.test_return import signed_return
from tests.web.testpress.test_webhook import completed_payload, post, signed_body, started_payload


def assert_counts_match_a_recount():
    kept, counted = exam_stats.stored(), exam_stats.recount()
    assert kept.keys() == counted.keys()
    for key, (attempts, scored, total) in counted.items():
        assert kept[key][:2] == (attempts, scored), key
        assert kept[key][2] == pytest.approx(total), key


@pytest.fixture
def asha(app):
    return make_user("asha@example.com", "Asha", testpress_user_id=311)


@pytest.fixture
def physics(app):
    return make_exam("Physics Mock 1", testpress_id=12)


def test_every_recording_path_keeps_the_counts_of_a_recount(client, asha, physics):
    launched = record_launch(asha, physics)
    assert db.session.get(ExamStats, (physics.id, "launched")).attempts == 1
    assert_counts_match_a_recount()

    assert client.post("/testpress/return", data=signed_return(launched)).status_code == 303  # scored by the return
    assert_counts_match_a_recount()
    completed = db.session.get(ExamStats, (physics.id, "completed"))
    # The return's 57.5 is the browser's claim: counted as an attempt, in no average.
    assert (completed.attempts, completed.scored, completed.percentage_sum) == (1, 0, 0.0)

    payload = completed_payload(institute_attempt_id=launched.institute_attempt_id, attempt_id=68701)
    assert post(client, signed_body(payload)).status_code == 200  # the webhook's 81.5 replaces it
    assert_counts_match_a_recount()
    db.session.expire_all()
    assert db.session.get(ExamStats, (physics.id, "completed")).percentage_sum == pytest.approx(81.5)

    regraded = completed_payload(institute_attempt_id=launched.institute_attempt_id, attempt_id=68701,
                                 percentage="40.00", score="80.00", completed_on="2025-11-20T10:30:00.000000Z")
    assert post(client, signed_body(regraded)).status_code == 200  # a re-evaluation, downwards
    assert_counts_match_a_recount()

    # A webhook of an attempt taken outside the portal: a new attempt, started.
    assert post(client, signed_body(started_payload(attempt_id=9002))).status_code == 200
    assert_counts_match_a_recount()

    run = SyncRun()
    db.session.add(run)
    db.session.commit()
    record_page(PageRecorder(None, run), [
        api_attempt(9002, "asha@example.com", 311, percentage=66.0),  # the started one, completed
        api_attempt(9003, "asha@example.com", 311, percentage=12.5),  # new
        api_attempt(68701, "asha@example.com", 311, percentage=45.0,
                    institute_attempt_id=launched.institute_attempt_id),  # the Admin API's word
    ])
    assert_counts_match_a_recount()
    db.session.expire_all()
    completed = db.session.get(ExamStats, (physics.id, "completed"))
    assert (completed.attempts, completed.scored, completed.percentage_sum) == (3, 3, pytest.approx(123.5))
    assert db.session.get(ExamStats, (physics.id, "started")).attempts == 0


def test_staff_and_other_orm_changes_are_counted_too(app, asha, physics):
    chemistry = make_exam("Chemistry")
    attempt = make_attempt(asha, physics, status="completed", percentage=70.0)
    db.session.expire_all()  # the previous values come from the database, not memory
    attempt = db.session.get(Attempt, attempt.id)
    attempt.exam_id, attempt.percentage = chemistry.id, None
    db.session.commit()
    assert_counts_match_a_recount()
    db.session.delete(db.session.get(Attempt, attempt.id))
    db.session.commit()
    assert_counts_match_a_recount()
    assert exam_stats.stored() == {}


def test_a_rolled_back_recording_leaves_the_counts_alone(app, asha, physics):
    make_attempt(asha, physics)
    before = exam_stats.stored()
    db.session.add(Attempt(student_id=asha.id, exam_id=physics.id, status="completed", percentage=50.0))
    db.session.flush()
    db.session.rollback()
    assert exam_stats.stored() == before


def test_the_rebuild_command_repairs_counts_that_drifted(app, runner, asha, physics):
    make_attempt(asha, physics, status="completed", percentage=90.0, score_source="webhook")
    make_attempt(asha, physics, status="started")
    db.session.execute(sa.update(ExamStats).values(attempts=7))  # drifted (a Core update, say)
    db.session.execute(sa.delete(ExamStats).where(ExamStats.status == "started"))
    db.session.commit()

    result = runner.invoke(args=["rebuild-exam-stats"])

    assert result.exit_code == 0 and "2 rows" in result.output
    db.session.expire_all()
    assert exam_stats.stored() == {(physics.id, "completed"): (1, 1, 90.0), (physics.id, "started"): (1, 0, 0.0)}


def test_a_huge_signed_percentage_corrected_later_leaves_everyone_elses_average_intact(client, asha, physics):
    # 1e32 added and taken away again in floats leaves 0: the other attempts' 90 was lost.
    make_attempt(make_user("ravi@example.com", "Ravi"), physics, status="completed", percentage=90.0, score=18.0,
                 score_source="webhook")
    huge = completed_payload(percentage="9" * 31, attempt_id=68701)  # signed: accepted as Testpress's
    assert post(client, signed_body(huge)).status_code == 200
    run = SyncRun()
    db.session.add(run)
    db.session.commit()

    record_page(PageRecorder(None, run), [api_attempt(68701, "asha@example.com", 311)])  # the API says 81.5

    db.session.expire_all()
    assert [a.percentage for a in db.session.scalars(sa.select(Attempt).order_by(Attempt.id))] == [90.0, 81.5]
    assert db.session.get(ExamStats, (physics.id, "completed")).percentage_sum == pytest.approx(171.5)
    assert_counts_match_a_recount()
