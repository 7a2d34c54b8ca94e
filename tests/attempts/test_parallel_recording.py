"""Exam day on PostgreSQL: results for different students are recorded in parallel, by any
number of workers and servers, while two for the same student (or the same Testpress attempt)
still take turns.

Another server's recording is played by a connection of the test's own that holds what a
recording holds (the recording lock shared, and its student's or attempt's own lock) until the
block ends. SQLite has one writer whatever the keys: there, every recording takes turns, and
tests/attempts/test_integrity.py forces those interleavings on both databases.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from portal.core.database import RECORDING_LOCK, lock_key
from portal.core.extensions import db
from portal.models import Attempt, SyncRun, UnmatchedReport
from portal.testpress.sync import PageRecorder, record_page
from tests.attempts.test_integrity import api_attempt, in_thread
from tests.attempts.test_reconcile import return_fields
from tests.conftest import ON_POSTGRESQL
from tests.factories import make_attempt, make_exam, make_user
from tests.web.testpress.test_webhook import completed_payload, post, signed_body

pytestmark = pytest.mark.skipif(not ON_POSTGRESQL, reason="SQLite has one writer: every recording takes turns")


@contextmanager
def recording_held(app, key):
    """Another server's recording of what `key` names, open until the block ends."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as holder:
            holder.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(RECORDING_LOCK)))
            holder.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(key))))
            yield
            holder.rollback()
    finally:
        engine.dispose()


@pytest.fixture
def three_launches(app):
    exam = make_exam("Physics Mock 1", testpress_id=12)
    people = [make_user("asha@example.com", "Asha", testpress_user_id=311),
              make_user("ravi@example.com", "Ravi", testpress_user_id=533),
              make_user("meera@example.com", "Meera", testpress_user_id=422)]
    launches = [make_attempt(person, exam, institute_attempt_id=100101 + index)
                for index, person in enumerate(people)]
    db.session.commit()
    return launches


def webhook_for(launch: Attempt, testpress_attempt_id: int) -> bytes:
    student = launch.student
    return signed_body(completed_payload(email=student.email, user_id=student.testpress_user_id,
                                         attempt_id=testpress_attempt_id,
                                         institute_attempt_id=launch.institute_attempt_id))


def recorded(launch: Attempt) -> tuple:
    db.session.rollback()
    attempt = db.session.get(Attempt, launch.id)
    return attempt.testpress_attempt_id, attempt.score, attempt.score_source


def test_other_students_results_are_recorded_while_one_students_recording_is_open(app, three_launches):
    asha, ravi, meera = three_launches
    ashas = webhook_for(asha, 9001)
    with recording_held(app, ("student", asha.student_id)):
        # Another student's webhook, and another's return, while Asha's recording is open.
        assert post(app.test_client(), webhook_for(ravi, 9002)).status_code == 200
        assert app.test_client().post("/testpress/return", data=return_fields(meera)).status_code == 303
        # Asha's own webhook waits for her recording to end.
        waiting, answered = in_thread(lambda: post(app.test_client(), ashas).status_code)
        waiting.join(1.5)
        assert waiting.is_alive() and answered == []
        assert recorded(asha) == (None, None, None)
    waiting.join(15)

    assert answered == [200]
    assert recorded(asha) == ("9001", 163.0, "webhook")
    assert recorded(ravi) == ("9002", 163.0, "webhook")
    assert recorded(meera)[1:] == (163.0, "return")


def test_a_students_return_waits_for_their_recording_under_way(app, three_launches):
    asha = three_launches[0]
    fields = return_fields(asha)
    with recording_held(app, ("student", asha.student_id)):
        waiting, answered = in_thread(lambda: app.test_client().post("/testpress/return", data=fields).status_code)
        waiting.join(1.5)
        assert waiting.is_alive() and answered == []
    waiting.join(15)

    assert answered == [303]
    assert recorded(asha)[1:] == (163.0, "return")


def test_a_report_whose_student_is_unknown_still_takes_turns_with_the_others_of_its_attempt(app):
    make_exam("Physics Mock 1", testpress_id=12)
    stranger = signed_body(completed_payload(email="nobody@example.com", user_id=999, attempt_id=7007))
    with recording_held(app, ("testpress attempt", "7007")):
        waiting, answered = in_thread(lambda: post(app.test_client(), stranger).status_code)
        waiting.join(1.5)
        assert waiting.is_alive() and answered == []
    waiting.join(15)
    # The same delivery again: still the one record of the attempt for staff.
    assert post(app.test_client(), stranger).status_code == 200

    assert answered == [200]
    db.session.rollback()
    assert db.session.scalars(sa.select(UnmatchedReport.testpress_attempt_id)).all() == ["7007"]


def test_two_sync_pages_and_a_webhook_naming_the_same_students_in_other_orders_all_complete(app, three_launches):
    asha, ravi, meera = three_launches
    runs = [SyncRun(), SyncRun()]
    db.session.add_all(runs)
    db.session.commit()
    run_ids = [run.id for run in runs]
    pages = [[api_attempt(9001, "asha@example.com", 311, institute_attempt_id=asha.institute_attempt_id),
              api_attempt(9002, "ravi@example.com", 533, institute_attempt_id=ravi.institute_attempt_id)],
             [api_attempt(9002, "ravi@example.com", 533, institute_attempt_id=ravi.institute_attempt_id),
              api_attempt(9001, "asha@example.com", 311, institute_attempt_id=asha.institute_attempt_id)]]
    start, errors, meeras = threading.Barrier(3), [], webhook_for(meera, 9003)

    def sync_page(run_id, page):
        with app.app_context():
            start.wait(5)
            try:
                record_page(PageRecorder(None, db.session.get(SyncRun, run_id)), page)
            except Exception as error:  # a deadlock would be raised here
                errors.append(error)

    def deliver():
        start.wait(5)
        return post(app.test_client(), meeras).status_code

    threads = [threading.Thread(target=sync_page, args=(run_id, page)) for run_id, page in zip(run_ids, pages)]
    for thread in threads:
        thread.start()
    delivering, delivered = in_thread(deliver)
    for thread in (*threads, delivering):
        thread.join(30)

    assert errors == [] and delivered == [200]
    assert recorded(asha) == ("9001", 163.0, "api")
    assert recorded(ravi) == ("9002", 163.0, "api")
    assert recorded(meera) == ("9003", 163.0, "webhook")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attempt)) == 3


def test_a_recording_that_finds_it_needs_a_student_it_does_not_hold_is_done_again_under_the_whole_lock(
        app, three_launches, monkeypatch, caplog):
    from portal.web.testpress import webhook

    caplog.set_level(logging.INFO)
    asha = three_launches[0]
    # As if Asha's email had changed between the keys' read and the recording's: her key is missing.
    monkeypatch.setattr(webhook, "recording_keys", lambda items: {("testpress attempt", "9001")})

    assert post(app.test_client(), webhook_for(asha, 9001)).status_code == 200

    assert recorded(asha) == ("9001", 163.0, "webhook")
    assert f"needed ('student', {asha.student_id}), which it did not hold" in caplog.text


@contextmanager
def kept_counts_row_held(app, exam_id: int, status: str):
    """Another transaction holding the row of an exam's kept counts (exam_stats) at `status`."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as holder:
            holder.execute(sa.text("SELECT 1 FROM exam_stats WHERE exam_id = :exam AND status = :status FOR UPDATE"),
                           {"exam": exam_id, "status": status})
            yield
            holder.rollback()
    finally:
        engine.dispose()


def test_a_sync_page_and_a_webhook_sharing_an_exams_counts_never_deadlock(app):
    """The kept counts' rows are locked in one order whoever writes them: a status read from the
    database and the same status set by a report are one key. (They sorted apart, and a sync page
    moving a launch to started met a webhook moving a start to completed head on.)"""
    exam = make_exam("Physics Mock 1", testpress_id=12)
    started = make_attempt(make_user("asha@example.com", "Asha", testpress_user_id=311), exam, status="started")
    claimed = make_attempt(make_user("ravi@example.com", "Ravi", testpress_user_id=533), exam, status="completed",
                           score=150, max_score=200, percentage=75.0, score_source="return")
    launched = make_attempt(make_user("meera@example.com", "Meera", testpress_user_id=422), exam)
    run = SyncRun()
    db.session.add(run)
    db.session.commit()
    run_id, exam_id, errors = run.id, exam.id, []
    page = [api_attempt(9002, "ravi@example.com", 533, institute_attempt_id=claimed.institute_attempt_id),
            api_attempt(9003, "meera@example.com", 422, institute_attempt_id=launched.institute_attempt_id,
                        state="Running", completed_on=None, score=None, percentage=None)]
    body = signed_body(completed_payload(email="asha@example.com", user_id=311, attempt_id=9001,
                                         institute_attempt_id=started.institute_attempt_id))

    def sync_page():
        with app.app_context():
            try:
                record_page(PageRecorder(None, db.session.get(SyncRun, run_id)), page)
            except Exception as error:  # the deadlock the database broke was raised here
                errors.append(error)

    with kept_counts_row_held(app, exam_id, "launched"):
        syncing = threading.Thread(target=sync_page)
        syncing.start()
        syncing.join(1.0)
        delivering, delivered = in_thread(lambda: post(app.test_client(), body).status_code)
        delivering.join(1.0)
    syncing.join(20), delivering.join(20)

    assert errors == [] and delivered == [200]
    assert recorded(started) == ("9001", 163.0, "webhook")
    assert recorded(claimed)[1:] == (163.0, "api")


def test_launches_at_once_all_start_when_the_largest_reference_is_ahead_of_the_clock(app):
    """Another server's faster clock (or a restore) put the largest stored launch reference ahead:
    every launch then draws from it, and launches take turns for that draw."""
    from portal.attempts.launching import record_launch
    from portal.core.clock import utcnow
    from portal.models import Exam, User

    exam = make_exam("Physics Mock 1", testpress_id=12)
    ahead = int(utcnow().timestamp() * 1000) * 1000 + 60_000_000  # a minute ahead
    make_attempt(make_user("fast@example.com", "Fast"), exam, institute_attempt_id=ahead)
    student_ids = [make_user(f"student{n}@example.com", f"Student {n}").id for n in range(10)]
    exam_id = exam.id
    db.session.commit()
    start, outcomes = threading.Barrier(len(student_ids)), []

    def launch(student_id):
        with app.app_context():
            student, chosen = db.session.get(User, student_id), db.session.get(Exam, exam_id)
            db.session.rollback()
            start.wait(5)
            try:
                record_launch(student, chosen)
                outcomes.append("launched")
            except Exception as error:
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=launch, args=(student_id,)) for student_id in student_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert outcomes == ["launched"] * len(student_ids)
    db.session.rollback()
    references = db.session.scalars(sa.select(Attempt.institute_attempt_id)).all()
    assert len(set(references)) == len(student_ids) + 1


def test_two_webhooks_teaching_one_testpress_user_id_to_two_students_take_turns(app):
    """Testpress's user id is unique to one portal student: of two reports naming it beside two
    emails, the second finds it learnt and is matched by it, never refused as a conflict."""
    exam = make_exam("Physics Mock 1", testpress_id=12)
    make_attempt(make_user("x@example.com", "X"), exam, status="completed")
    make_user("asha@example.com", "Asha")
    make_user("asha.rao@example.com", "Asha R")
    db.session.commit()
    first = signed_body(completed_payload(email="asha@example.com", user_id=777, attempt_id=9101))
    second = signed_body(completed_payload(email="asha.rao@example.com", user_id=777, attempt_id=9102))

    with kept_counts_row_held(app, exam.id, "completed"):  # both decide, then wait here to write
        sending, sent = in_thread(lambda: post(app.test_client(), first).get_json())
        sending.join(1.0)
        resending, resent = in_thread(lambda: post(app.test_client(), second).get_json())
        resending.join(1.0)
    sending.join(20), resending.join(20)

    assert sent == [{"status": "recorded"}] and resent == [{"status": "recorded"}]


def wait_for_lock_waiters(count: int, lock: str | None = None) -> None:
    """Return once `count` transactions of this database wait for a lock (of the kind `lock`:
    "transactionid" for a row's holder, "tuple" for a row another waiter is first in line for)."""
    waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND wait_event_type = 'Lock' AND wait_event LIKE :lock")
    for _ in range(200):
        db.session.rollback()
        if db.session.scalar(waiting, {"lock": lock or "%"}) >= count:
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"fewer than {count} transactions came to wait for a lock")


def test_two_sync_pages_and_a_webhook_of_other_students_at_the_same_exams_never_deadlock(app):
    """Recordings of different students run in parallel and meet at the exams' kept counts
    (exam_stats), one row per exam and status. Each page lists its exams in its own order;
    were the rows locked in that order, the page holding chemistry's row and the page holding
    physics's would each wait for the other's. Two holders keep both rows until every
    recording waits, then free chemistry's, then physics's, so that each page takes its first
    row before it asks for its second."""
    physics, chemistry = make_exam("Physics Mock 1", testpress_id=12), make_exam("Chemistry Mock 1", testpress_id=13)
    kiran = make_user("kiran@example.com", "Kiran", testpress_user_id=100)
    for exam in (physics, chemistry):  # the counts' rows exist before exam day
        make_attempt(kiran, exam, status="completed", score=150, max_score=200, percentage=75.0, score_source="api")
    for email, name, user_id in (("asha@example.com", "Asha", 311), ("ravi@example.com", "Ravi", 533),
                                 ("meera@example.com", "Meera", 422)):
        make_user(email, name, testpress_user_id=user_id)
    runs = [SyncRun(), SyncRun()]
    db.session.add_all(runs)
    db.session.commit()
    run_ids, exam_ids, errors = [run.id for run in runs], (physics.id, chemistry.id), []
    pages = [[api_attempt(9001, "asha@example.com", 311, exam_id=13),  # chemistry first
              api_attempt(9002, "asha@example.com", 311, exam_id=12)],
             [api_attempt(9003, "ravi@example.com", 533, exam_id=12),  # physics first
              api_attempt(9004, "ravi@example.com", 533, exam_id=13)]]
    meeras = signed_body(completed_payload(email="meera@example.com", user_id=422, attempt_id=9005))

    def sync_page(run_id, page):
        with app.app_context():
            try:
                record_page(PageRecorder(None, db.session.get(SyncRun, run_id)), page)
            except Exception as error:  # the deadlock the database broke was raised here
                errors.append(error)

    threads = [threading.Thread(target=sync_page, args=(run_id, page)) for run_id, page in zip(run_ids, pages)]
    with kept_counts_row_held(app, exam_ids[0], "completed"):
        with kept_counts_row_held(app, exam_ids[1], "completed"):
            for waiters, thread in enumerate(threads, start=1):
                thread.start()
                wait_for_lock_waiters(waiters)
            delivering, delivered = in_thread(lambda: post(app.test_client(), meeras).status_code)
            wait_for_lock_waiters(3)
        # Chemistry's row free, and physics's still held: whoever holds chemistry's now waits
        # for physics's, in line behind the page first to ask for it (as the webhook is).
        wait_for_lock_waiters(2, "tuple")
    for thread in (*threads, delivering):
        thread.join(30)

    assert errors == [] and delivered == [200]
    db.session.rollback()
    recorded_attempts = db.session.execute(
        sa.select(Attempt.testpress_attempt_id, Attempt.exam_id, Attempt.score_source)
        .where(Attempt.testpress_attempt_id.is_not(None)).order_by(Attempt.testpress_attempt_id)).all()
    assert recorded_attempts == [("9001", exam_ids[1], "api"), ("9002", exam_ids[0], "api"),
                                 ("9003", exam_ids[0], "api"), ("9004", exam_ids[1], "api"),
                                 ("9005", exam_ids[0], "webhook")]
    completed = db.session.execute(sa.text("SELECT exam_id, attempts FROM exam_stats WHERE status = 'completed' "
                                           "ORDER BY exam_id")).all()
    assert completed == [(exam_ids[0], 4), (exam_ids[1], 3)]
