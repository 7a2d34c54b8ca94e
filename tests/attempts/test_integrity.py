"""Exam day's promise, one trustworthy record per attempt: under concurrency, against a student
who edits the return, and whatever order Testpress's signed deliveries arrive in.

The interleavings are forced: a report is held between its read and its write while the
other arrives, as two workers would do on their own when the return and its webhook land
in the same millisecond.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.attempts.reconciliation import record_report
from portal.core.clock import utcnow
from portal.core.database import RECORDING_LOCK
from portal.core.extensions import db
from portal.models import Attempt, UnmatchedReport
from portal.results import Report
from portal.testpress.client import Page, TestpressBusy, TestpressError
from portal.web.testpress import browser_return, webhook
from tests.attempts.test_reconcile import SCORES, TAMPERED, return_fields
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_webhook import completed_payload, post, signed_body

RE_EVALUATED = {**SCORES, "correct_count": 44, "incorrect_count": 3, "score": 173.0, "percentage": 86.5}


@pytest.fixture
def launched(app):
    student = make_user("asha@example.com", "Asha")
    return make_attempt(student, make_exam("Physics Mock 1", testpress_id=12), institute_attempt_id=100101)


def reload(attempt: Attempt) -> Attempt:
    db.session.rollback()  # end this session's read, whose snapshot predates the other requests
    return db.session.get(Attempt, attempt.id)


def webhook_body(launched: Attempt, **changes) -> bytes:
    return signed_body(completed_payload(institute_attempt_id=launched.institute_attempt_id, **changes))


class HeldBetweenReadAndWrite:
    """Makes `module.record_report` stop, in the first request that reaches it, until released."""

    def __init__(self, monkeypatch, module):
        self.reached, self.release = threading.Event(), threading.Event()
        real = module.record_report

        def held(attempt, report, *args, **kwargs):
            if not self.reached.is_set():
                self.reached.set()
                assert self.release.wait(10)
            return real(attempt, report, *args, **kwargs)

        monkeypatch.setattr(module, "record_report", held)


def in_thread(work) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(work()))
    thread.start()
    return thread, answers


# -- 1. the return and its webhook at the same moment --------------------------------------------


def test_a_webhook_arriving_while_the_return_decides_is_not_overwritten_by_it(app, launched, monkeypatch):
    held = HeldBetweenReadAndWrite(monkeypatch, browser_return)
    tampered = return_fields(launched, TAMPERED)
    returning, returned = in_thread(lambda: app.test_client().post("/testpress/return", data=tampered).status_code)
    assert held.reached.wait(10)  # the return has read the attempt, and decided on what it read

    body = webhook_body(launched)
    delivering, delivered = in_thread(lambda: post(app.test_client(), body).status_code)
    # Before the recording lock, the webhook committed here and the return then wrote over it.
    delivering.join(0.5)
    held.release.set()
    returning.join(10), delivering.join(10)

    assert (returned, delivered) == ([303], [200])
    attempt = reload(launched)
    assert (attempt.score, attempt.score_source, attempt.verified) == (163.0, "webhook", True)
    assert attempt.flagged and "200" in attempt.flag_reason


def test_a_return_arriving_while_the_webhook_decides_is_still_weighed_against_it(app, launched, monkeypatch):
    held = HeldBetweenReadAndWrite(monkeypatch, webhook)
    body = webhook_body(launched)
    delivering, delivered = in_thread(lambda: post(app.test_client(), body).status_code)
    assert held.reached.wait(10)

    tampered = return_fields(launched, TAMPERED)
    returning, returned = in_thread(lambda: app.test_client().post("/testpress/return", data=tampered).status_code)
    returning.join(0.5)
    held.release.set()
    returning.join(10), delivering.join(10)

    assert (returned, delivered) == ([303], [200])
    attempt = reload(launched)
    assert (attempt.score, attempt.score_source) == (163.0, "webhook")
    assert sorted(r.source for r in attempt.reports) == ["return", "webhook"]
    # Decided on a state without the return, the webhook used to write "not flagged" over it.
    assert attempt.flagged


# -- a write lock held longer than the busy timeout -------------------------------------------------


@contextmanager
def write_lock_held(app):
    """Another process's writer holding the recording lock (SQLite's write lock, or the
    PostgreSQL advisory lock) until the block ends."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        holder = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()
    else:
        engine = sa.create_engine(uri)
        try:
            with engine.connect() as holder:
                holder.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORDING_LOCK)))
                yield
                holder.rollback()
        finally:
            engine.dispose()


@pytest.fixture
def busy_app(make_app):
    return make_app(DATABASE_BUSY_TIMEOUT=0.2)


@pytest.fixture
def busy_launch(busy_app):
    with busy_app.app_context():
        attempt = make_attempt(make_user("asha@example.com", "Asha"), make_exam(testpress_id=12))
        return attempt.id, return_fields(attempt)


def test_a_return_meeting_a_long_write_lock_answers_503_and_keeps_the_result(busy_app, busy_launch):
    attempt_id, fields = busy_launch

    with write_lock_held(busy_app):
        response = busy_app.test_client().post("/testpress/return", data=fields)

    assert response.status_code == 503
    assert response.headers["Retry-After"] and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Your result is not saved yet" in page and "Save my result" in page
    # Every returned field is in the page's form, so that one press re-sends the whole result.
    for name, value in fields.items():
        assert f'name="{name}" value="{value}"' in page
    with busy_app.app_context():
        assert db.session.get(Attempt, attempt_id).status == "launched"


def test_the_kept_result_is_recorded_when_the_student_presses_again(busy_app, busy_launch):
    attempt_id, fields = busy_launch
    client = busy_app.test_client()
    with write_lock_held(busy_app):
        assert client.post("/testpress/return", data=fields).status_code == 503

    again = client.post("/testpress/return", data=fields)

    assert again.status_code == 303 and again.headers["Location"] == f"/attempts/{attempt_id}"
    with busy_app.app_context():
        assert db.session.get(Attempt, attempt_id).score == SCORES["score"]


def test_the_start_page_answers_a_friendly_503_under_a_long_write_lock(busy_app):
    with busy_app.app_context():
        student, exam_id = make_user("asha@example.com", "Asha"), make_exam().id
        student_id = student.id
    client = busy_app.test_client()
    assert client.post("/login", data={"email": "asha@example.com", "password": PASSWORD}).status_code == 302

    with write_lock_held(busy_app):
        response = client.post(f"/exams/{exam_id}/start")

    assert response.status_code == 503
    assert "very busy" in response.get_data(as_text=True) and "Start again" in response.get_data(as_text=True)
    with busy_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Attempt.student_id == student_id)) == 0


# -- 2. the return's unsigned fields are the student's to edit ----------------------------------------


@pytest.fixture
def rival(app, launched):
    """Meera, another student, with her own launch of the same exam."""
    return make_attempt(make_user("meera@example.com", "Meera"), launched.exam, institute_attempt_id=200202)


def pending_return_claiming(attempt: Attempt, testpress_attempt_id: str) -> dict:
    return {**return_fields(attempt), "status": "pending", "attempt_id": testpress_attempt_id}


def meeras_webhook(**changes) -> bytes:
    return signed_body(completed_payload(attempt_id=880001, email="meera@example.com", user_id=422, **changes))


def test_a_claimed_testpress_id_never_blocks_its_owners_signed_webhook(app, client, launched, rival):
    assert client.post("/testpress/return", data=pending_return_claiming(launched, "880001")).status_code == 303

    response = post(client, meeras_webhook(institute_attempt_id=rival.institute_attempt_id))

    assert (response.status_code, response.json["status"]) == (200, "recorded")
    meera, asha = reload(rival), reload(launched)
    assert (meera.testpress_attempt_id, meera.score, meera.verified) == ("880001", 163.0, True)
    assert (asha.testpress_attempt_id, asha.claimed_testpress_attempt_id, asha.score) == (None, "880001", None)


def test_a_signed_report_without_a_reference_is_never_captured_by_another_students_claim(app, client, launched, rival):
    client.post("/testpress/return", data=pending_return_claiming(launched, "880001"))

    started = (utcnow() + timedelta(minutes=1)).isoformat() + "Z"
    assert post(client, meeras_webhook(attempt_start_time=started)).status_code == 200

    asha, meera = reload(launched), reload(rival)
    assert (asha.score, asha.testpress_attempt_id, asha.verified) == (None, None, False)
    # Meera's open launch of the exam is hers.
    assert (meera.testpress_attempt_id, meera.score) == ("880001", 163.0)


def test_a_signed_report_naming_another_students_launch_is_kept_unmatched_for_staff(app, client, launched, rival):
    response = post(client, meeras_webhook(institute_attempt_id=launched.institute_attempt_id))

    assert (response.status_code, response.json["status"]) == (200, "unmatched")
    assert reload(launched).score is None
    [unmatched] = db.session.scalars(sa.select(UnmatchedReport)).all()
    assert unmatched.testpress_attempt_id == "880001"
    assert f"portal attempt {launched.id}, which is not this student's" in unmatched.reason


def test_a_sync_page_with_a_claimed_id_records_everyone(app, client, launched, rival):
    from portal.models import SyncRun
    from portal.testpress.sync import PageRecorder, record_page

    client.post("/testpress/return", data=pending_return_claiming(launched, "880001"))
    run = SyncRun()
    db.session.add(run)
    db.session.commit()

    record_page(PageRecorder(None, run), [api_attempt(880001, "meera@example.com", 422, institute_attempt_id=200202),
                                          api_attempt(880002, "asha@example.com", 311, institute_attempt_id=100101)])

    asha, meera = reload(launched), reload(rival)
    assert (meera.testpress_attempt_id, meera.score_source) == ("880001", "api")
    assert (asha.testpress_attempt_id, asha.score_source) == ("880002", "api")
    assert asha.flagged and "880001" in asha.flag_reason and "880002" in asha.flag_reason


def test_replaying_a_return_with_other_scores_changes_nothing_and_flags_it(app, client, launched):
    first = {**return_fields(launched), "score": "40", "rank": "7", "max_rank": "9"}
    assert client.post("/testpress/return", data=first).status_code == 303

    replay = {**first, "score": "199", "rank": "1"}
    assert client.post("/testpress/return", data=replay).status_code == 303

    attempt = reload(launched)
    assert (attempt.score, attempt.rank, attempt.score_source) == (40.0, 7, "return")
    assert attempt.flagged and "replayed with score 199" in attempt.flag_reason


@pytest.mark.parametrize("order", ["return first", "webhook first"])
def test_a_verified_result_says_which_of_its_fields_only_the_return_reported(app, client, auth, launched, order):
    # The webhook carries no max score or rank; the return's, which the student could have
    # edited, are kept beside the signed score but never presented as Testpress's word.
    edited = {**return_fields(launched), "max_score": "170", "rank": "1", "max_rank": "900"}
    deliveries = [lambda: client.post("/testpress/return", data=edited), lambda: post(client, webhook_body(launched))]
    for deliver in deliveries if order == "return first" else reversed(deliveries):
        assert deliver().status_code in (200, 303)
    attempt = reload(launched)
    assert (attempt.score_source, attempt.claimed_fields) == ("webhook", ("max_score", "rank", "max_rank"))

    auth.login(launched.student.email)
    text = " ".join(client.get(f"/attempts/{launched.id}").get_data(as_text=True).split())

    assert "Verified by Testpress" in text
    assert ("The maximum score and the rank came back with your browser only: Testpress&#39;s signed report "
            "does not include them, so they are not verified.") in text

    auth.logout()
    auth.login(make_staff("ravi@example.com").email)
    staff_text = " ".join(client.get(f"/admin/attempts/{launched.id}").get_data(as_text=True).split())
    assert "The maximum score and the rank came from the browser return only" in staff_text


def test_a_result_the_admin_api_confirmed_leaves_only_the_rank_to_the_return(app, launched):
    launched.score_source, launched.score, launched.max_score, launched.rank = "api", 163.0, 200.0, 3
    assert launched.claimed_fields == ("rank",)
    launched.score_source = "return"
    assert launched.claimed_fields == ()  # unverified: the page says so of the whole result


def test_replaying_the_same_return_is_harmless(app, client, launched):
    fields = return_fields(launched)
    for _ in range(3):
        assert client.post("/testpress/return", data=fields).status_code == 303

    attempt = reload(launched)
    assert (len(attempt.reports), attempt.flagged, attempt.score) == (1, False, 163.0)


# -- 3. signed deliveries out of order ---------------------------------------------------------------


def scored(source: str, score: float, completed_on: datetime | None = None) -> Report:
    return Report(source, "completed", "9001", **{**SCORES, "score": score}, completed_at=completed_on)


T1, T2 = datetime(2026, 11, 30, 9, 55), datetime(2026, 11, 30, 11, 0)


@pytest.mark.parametrize("order", [(0, 1, 0), (1, 0, 0), (0, 0, 1), (1, 0)])
def test_testpress_times_order_a_re_evaluation_however_the_deliveries_arrive(launched, order):
    reports = [scored("webhook", 10, T1), scored("webhook", 30, T2)]
    for index in order:
        record_report(launched, reports[index])
    db.session.commit()

    assert (reload(launched).score, reload(launched).needs_confirmation) == (30.0, False)


def test_a_late_copy_of_the_first_delivery_never_rolls_back_a_re_evaluation(launched):
    for one in (scored("webhook", 10), scored("webhook", 30), scored("webhook", 10)):
        record_report(launched, one)
    db.session.commit()

    attempt = reload(launched)
    assert attempt.score == 30.0
    # Nothing in the payloads says which of 10 and 30 is Testpress's later word.
    assert attempt.needs_confirmation
    assert [r.score for r in attempt.reports] == [10.0, 30.0]


T3 = datetime(2026, 11, 30, 12, 0)


@pytest.mark.parametrize("source", ["webhook", "api"])
def test_testpress_changing_a_result_back_is_recorded(launched, source):
    # A re-evaluation, then the answer key put back: the third report repeats the first, but
    # the Admin API's answer is the state now, and a webhook dated later is a later word.
    for one in (scored(source, 10, T1), scored(source, 30, T2), scored(source, 10, T3)):
        record_report(launched, one)
    db.session.commit()

    attempt = reload(launched)
    assert (attempt.score, attempt.needs_confirmation) == (10.0, False)
    assert [r.score for r in attempt.reports] == [10.0, 30.0, 10.0]


def test_the_admin_api_repeating_its_answer_settles_a_disagreement(launched):
    # The sync's answer, then a stray webhook that disagrees and cannot be ordered: the next
    # sync asks the Admin API, which says the same as before. That settles it.
    record_report(launched, scored("api", 30))
    record_report(launched, scored("webhook", 35))
    assert launched.needs_confirmation

    record_report(launched, scored("api", 30))
    db.session.commit()

    assert (reload(launched).score, reload(launched).needs_confirmation) == (30.0, False)


@pytest.mark.parametrize("order", ["api first", "webhook first"])
def test_testpress_times_order_the_webhook_and_the_admin_api(launched, order):
    # A sync's answer and a re-evaluation's webhook days later, or a sync page fetched before
    # that webhook and recorded after it: the later of Testpress's times wins either way.
    reports = [scored("api", 10, T1), scored("webhook", 30, T2)]
    for one in reports if order == "api first" else reversed(reports):
        record_report(launched, one)
    db.session.commit()

    assert (reload(launched).score, reload(launched).score_source, reload(launched).needs_confirmation) == (
        30.0, "webhook", False)


def test_testpress_s_completion_time_replaces_the_returns(launched):
    record_report(launched, Report("return", "completed", "9001", **SCORES, completed_at=T3))
    record_report(launched, scored("webhook", SCORES["score"], T1))
    db.session.commit()

    assert reload(launched).completed_at == T1


def test_a_return_saying_completed_while_testpress_says_running_is_flagged(launched):
    # The return's status is the student's to edit: "completed", with any score, while the
    # Admin API still has the attempt running.
    record_report(launched, Report("api", "started", "9001"))  # a sync during the exam
    record_report(launched, Report("return", "completed", "9001", **{**SCORES, "score": 200.0}))
    assert not launched.flagged
    record_report(launched, Report("api", "started", "9001"))  # the next sync: the same answer
    db.session.commit()

    attempt = reload(launched)
    assert attempt.flagged and "still in progress" in attempt.flag_reason
    assert record_report(attempt, Report("api", "started", "9001")) is False  # and again: nothing new

    # Testpress's own result, when it comes, takes over and the question is another one.
    record_report(attempt, scored("webhook", SCORES["score"]))
    assert "still in progress" not in (attempt.flag_reason or "")


@pytest.mark.parametrize("first, second", [(10, 30), (30, 10)])
def test_unordered_signed_results_wait_for_the_admin_api_to_decide(launched, first, second):
    record_report(launched, scored("webhook", first))
    record_report(launched, scored("webhook", second))
    assert launched.needs_confirmation

    record_report(launched, scored("api", 30))
    db.session.commit()

    attempt = reload(launched)
    assert (attempt.score, attempt.score_source, attempt.needs_confirmation) == (30.0, "api", False)


def test_a_webhook_disagreeing_with_the_admin_api_asks_it_again(launched):
    record_report(launched, scored("api", 30))
    record_report(launched, scored("webhook", 35))
    db.session.commit()

    attempt = reload(launched)
    assert (attempt.score, attempt.score_source, attempt.needs_confirmation) == (30.0, "api", True)


class OneAttemptApi:
    """An Admin API that knows one attempt, and notes what it was asked."""

    def __init__(self, result: dict):
        self.result, self.asked = result, []

    def iter_attempts(self, **filters):
        """Only a question by student and exam finds it: it started before any sync's window."""
        self.asked.append(filters)
        found = filters.get("users") == self.result["user_id"] and filters.get("exams") == self.result["exam_id"]
        yield Page(count=int(found), results=[self.result] if found else [])

    def list_exams(self):
        return []


def test_the_next_sync_confirms_unordered_results_from_the_admin_api(app, launched):
    from portal.testpress.sync import sync_attempts

    launched.student.testpress_user_id = 311
    for one in (scored("webhook", 10), scored("webhook", 30)):
        record_report(launched, one)
    db.session.commit()
    api = OneAttemptApi(api_attempt(9001, "asha@example.com", 311, institute_attempt_id=100101, score=10))

    sync_attempts(api, since=datetime(2026, 11, 30))

    attempt = reload(launched)
    assert (attempt.score, attempt.score_source, attempt.needs_confirmation) == (10.0, "api", False)
    assert {"users": 311, "exams": 12} in [{k: v for k, v in asked.items() if k in ("users", "exams")}
                                           for asked in api.asked]


def test_staff_can_ask_the_admin_api_for_one_attempt(app, client, auth, launched, monkeypatch):
    from portal.web.admin import attempt as admin
    from tests.factories import make_staff

    launched.testpress_attempt_id, launched.student.testpress_user_id = "9001", 311
    db.session.commit()
    api = OneAttemptApi(api_attempt(9001, "asha@example.com", 311, institute_attempt_id=100101, score=12))
    monkeypatch.setattr(admin.TestpressClient, "interactive", classmethod(lambda cls, settings: api))
    staff = make_staff("staff@example.com")
    auth.login("staff@example.com")

    response = client.post(f"/admin/attempts/{launched.id}/confirm")

    assert response.status_code == 302 and response.headers["Location"] == f"/admin/attempts/{launched.id}"
    assert "Recorded what Testpress" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert (reload(launched).score, reload(launched).score_source) == (12.0, "api")
    # The change is the staff member's action, in the audit log, and the run says who asked.
    from portal.models import AuditEntry, SyncRun

    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "attempt.confirm")).all()
    assert (entry.actor_id, entry.target_type, entry.target_id) == (staff.id, "attempt", launched.id)
    assert json.loads(entry.before)["score"] is None and json.loads(entry.after)["score"] == 12.0
    assert json.loads(entry.after)["score_source"] == "api"
    [run] = db.session.scalars(sa.select(SyncRun)).all()
    assert (run.status, run.started_by_id) == ("ok", staff.id)


def test_asking_the_admin_api_again_with_nothing_new_adds_no_audit_entry(app, client, auth, launched, monkeypatch):
    from portal.models import AuditEntry
    from portal.web.admin import attempt as admin
    from tests.factories import make_staff

    launched.testpress_attempt_id, launched.student.testpress_user_id = "9001", 311
    db.session.commit()
    api = OneAttemptApi(api_attempt(9001, "asha@example.com", 311, institute_attempt_id=100101, score=12))
    monkeypatch.setattr(admin.TestpressClient, "interactive", classmethod(lambda cls, settings: api))
    make_staff("staff@example.com")
    auth.login("staff@example.com")

    for _ in range(2):
        assert client.post(f"/admin/attempts/{launched.id}/confirm").status_code == 302

    assert len(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "attempt.confirm")).all()) == 1


class FailingApi:
    def __init__(self, error: Exception):
        self.error = error

    def iter_attempts(self, **filters):
        raise self.error


@pytest.mark.parametrize("error,said", [
    (TestpressBusy("Testpress GET /api/v2.5/admin/attempts/ answered 429 (busy)", 45),
     "Testpress is busy: nothing was changed. Please try again in 45 seconds."),
    (TestpressError("Testpress GET /api/v2.5/admin/attempts/ timed out after 10s; gave up after 1 tries"),
     "Could not reach Testpress, so nothing was changed: Testpress GET /api/v2.5/admin/attempts/ timed out"),
])
def test_asking_the_admin_api_when_it_fails_says_so_and_finishes_its_run(app, client, auth, launched, monkeypatch,
                                                                         error, said):
    from portal.models import SyncRun
    from portal.web.admin import attempt as admin
    from tests.factories import make_staff

    launched.testpress_attempt_id, launched.student.testpress_user_id = "9001", 311
    db.session.commit()
    monkeypatch.setattr(admin.TestpressClient, "interactive", classmethod(lambda cls, settings: FailingApi(error)))
    make_staff("staff@example.com")
    auth.login("staff@example.com")

    response = client.post(f"/admin/attempts/{launched.id}/confirm", follow_redirects=True)

    assert response.status_code == 200 and said in response.get_data(as_text=True)
    [run] = db.session.scalars(sa.select(SyncRun)).all()
    assert run.status == "failed" and run.finished_at is not None and run.error.startswith("Testpress GET")
    assert reload(launched).score is None


def api_attempt(testpress_id: int, email: str, user_id: int, **changes) -> dict:
    """One attempt as the Admin API lists it."""
    return {
        "id": testpress_id, "user_id": user_id, "email": email, "exam_id": 12, "state": "Completed",
        "date": "2026-11-30T09:00:00Z", "completed_on": "2026-11-30T09:55:00Z",
        "total_count": 50, "correct_answers_count": 42, "incorrect_answers_count": 5, "unanswered_count": 3,
        "score": 163, "max_score": 200, "percentage": 81.5, **changes,
    }


def test_a_page_the_database_refuses_still_records_every_other_attempt(app, launched, rival, monkeypatch):
    from portal.models import SyncRun
    from portal.testpress import sync

    real_record = sync.record_report

    def collide_once(attempt, report, now):  # a row no rule of matching foresaw
        if report.testpress_attempt_id == "880003":
            attempt.institute_attempt_id = 200202  # Meera's launch's: the database refuses the row
        return real_record(attempt, report, now)

    monkeypatch.setattr(sync, "record_report", collide_once)
    run = SyncRun()
    db.session.add(run)
    db.session.commit()
    make_user("ravi@example.com", "Ravi", testpress_user_id=533)

    sync.record_page(sync.PageRecorder(None, run), [
        api_attempt(880001, "meera@example.com", 422, institute_attempt_id=200202),
        api_attempt(880003, "ravi@example.com", 533),  # new: its insert is refused
        api_attempt(880002, "asha@example.com", 311, institute_attempt_id=100101),
    ])

    assert reload(rival).testpress_attempt_id == "880001"
    assert reload(launched).testpress_attempt_id == "880002"
    assert sorted(stored.testpress_attempt_id for stored in db.session.scalars(sa.select(Attempt))) == [
        "880001", "880002"]


def test_a_delivery_the_database_refuses_for_good_is_a_409_not_a_retry_loop(app, client, launched, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    from portal.models import WebhookDelivery

    def contradicted(reported, remote_addr):
        raise IntegrityError("UPDATE", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(webhook, "_record", contradicted)

    response = post(client, webhook_body(launched))

    assert response.status_code == 409
    [delivery] = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert (delivery.outcome, delivery.testpress_attempt_id) == ("rejected", "9001")
    assert reload(launched).score is None


def test_a_repeated_report_naming_another_students_launch_stays_unmatched(app, client, launched, rival):
    body = meeras_webhook(institute_attempt_id=launched.institute_attempt_id)

    answers = [post(client, body) for _ in range(2)]

    assert [(a.status_code, a.json["status"]) for a in answers] == [(200, "unmatched"), (200, "unmatched")]
    assert len(db.session.scalars(sa.select(UnmatchedReport)).all()) == 1


def test_a_cancelled_returns_partial_scores_are_no_claim_of_the_result(app, client, launched):
    partial = {**return_fields(launched, {**SCORES, "correct_count": 3, "score": 12.0}), "status": "cancelled"}
    assert client.post("/testpress/return", data=partial).status_code == 303
    again = {**partial, "correct_count": "5", "score": "20"}  # taken later, left again
    assert client.post("/testpress/return", data=again).status_code == 303

    assert post(client, webhook_body(launched)).status_code == 200

    attempt = reload(launched)
    assert (attempt.score, attempt.verified, attempt.flagged) == (163.0, True, False)


def test_a_signed_count_past_any_exam_is_refused_not_a_server_error(app, client, launched):
    response = post(client, webhook_body(launched, correct_answers_count=2**31))

    assert response.status_code == 400
    assert reload(launched).score is None


# -- a score only the browser reported, which Testpress never gave ------------------------------

class ApiKnowingUsers(OneAttemptApi):
    """OneAttemptApi that also finds its student by email, as the Admin API's users list does."""

    def __init__(self, result: dict | None):
        super().__init__(result or {"id": 0, "user_id": 311, "exam_id": -1})
        self.users_asked = []

    def find_user(self, email):
        self.users_asked.append(email)
        return {"id": 311, "email": email}


def forged_return(attempt: Attempt, started_ago: timedelta) -> Attempt:
    """The student pressed Start, never opened the exam on Testpress, and posted a return of
    their own: 20 / 20, naming a Testpress attempt id of their choosing."""
    attempt.started_at = utcnow() - started_ago
    record_report(attempt, Report("return", "completed", "424242", **{**SCORES, "score": 200.0, "percentage": 100.0}))
    db.session.commit()
    return attempt


def test_staff_ask_testpress_about_an_attempt_it_never_reported_by_student_and_exam(app, client, auth, launched,
                                                                                    monkeypatch):
    from portal.web.admin import attempt as admin

    forged_return(launched, timedelta(minutes=5))
    # Testpress knows the launch (by the portal's reference) under its own id, with the true score.
    api = ApiKnowingUsers(api_attempt(9001, "asha@example.com", 311, institute_attempt_id=100101, score=12,
                                      percentage=6.0))
    monkeypatch.setattr(admin.TestpressClient, "interactive", classmethod(lambda cls, settings: api))
    make_staff("staff@example.com")
    auth.login("staff@example.com")
    assert "Ask Testpress" in client.get(f"/admin/attempts/{launched.id}").get_data(as_text=True)

    response = client.post(f"/admin/attempts/{launched.id}/confirm", follow_redirects=True)

    assert "Recorded what Testpress" in response.get_data(as_text=True)
    assert api.users_asked == ["asha@example.com"]  # no Testpress user id yet: found by email
    attempt = reload(launched)
    assert (attempt.score, attempt.score_source, attempt.testpress_attempt_id) == (12.0, "api", "9001")
    assert attempt.flagged  # the browser claimed 200


def test_asking_testpress_about_an_attempt_it_does_not_know_says_so(app, client, auth, launched, monkeypatch):
    from portal.web.admin import attempt as admin

    forged_return(launched, timedelta(minutes=5))
    api = ApiKnowingUsers(None)
    monkeypatch.setattr(admin.TestpressClient, "interactive", classmethod(lambda cls, settings: api))
    make_staff("staff@example.com")
    auth.login("staff@example.com")

    response = client.post(f"/admin/attempts/{launched.id}/confirm", follow_redirects=True)

    assert "has no record of this attempt" in response.get_data(as_text=True)
    assert {"users": 311, "exams": 12} in [{k: v for k, v in asked.items() if k in ("users", "exams")}
                                           for asked in api.asked]
    assert (reload(launched).score, reload(launched).score_source) == (200.0, "return")


def test_a_sync_flags_a_browser_only_score_testpress_has_no_record_of_after_the_grace_period(app, client, launched):
    from portal.attempts.flags import resolve_flag
    from portal.attempts.reconciliation import NO_RECORD_REASON
    from portal.testpress.sync import sync_attempts

    forged_return(launched, timedelta(hours=3))
    recent = forged_return(make_attempt(launched.student, launched.exam, institute_attempt_id=100102),
                           timedelta(minutes=30))  # within the grace period: the webhook may still come
    elsewhere = forged_return(make_attempt(launched.student, make_exam("Not on Testpress"),
                                           institute_attempt_id=100103), timedelta(hours=3))

    sync_attempts(ApiKnowingUsers(None))

    flagged = {attempt.id: attempt.flag_reason for attempt in db.session.scalars(
        sa.select(Attempt).where(Attempt.flagged.is_(True)))}
    assert flagged == {launched.id: NO_RECORD_REASON}  # not the recent one, nor one of an exam Testpress cannot list
    assert recent.id not in flagged and elsewhere.id not in flagged

    # Dismissed by staff, it is not raised again by the next sync.
    resolve_flag(reload(launched), make_staff("staff@example.com"), "dismissed", "asked the student")
    db.session.commit()
    sync_attempts(ApiKnowingUsers(None))
    assert not reload(launched).flagged


def test_testpress_word_arriving_late_lowers_the_no_record_flag(app, client, launched):
    from portal.testpress.sync import sync_attempts

    forged_return(launched, timedelta(hours=3))
    sync_attempts(ApiKnowingUsers(None))
    assert reload(launched).flagged

    honest = {**SCORES, "score": 200.0, "percentage": 100.0}  # the browser told the truth after all
    record_report(reload(launched), Report("webhook", "completed", "424242", **honest))
    db.session.commit()
    attempt = reload(launched)
    assert (attempt.flagged, attempt.flag_reason, attempt.score_source) == (False, None, "webhook")
