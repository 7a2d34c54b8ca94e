"""`flask --app portal testpress sync` against a live sandbox: what staff see and what the database holds."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.attempts.reconciliation import record_report
from portal.core.extensions import db
from portal.models import Attempt, Exam, SyncRun, UnmatchedReport, User
from portal.results import Report
from portal.testpress import client as client_module
from portal.testpress import sync as sync_module
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.matching import AttemptMatcher
from portal.testpress.reports import BadReport
from portal.testpress.reports import from_api as parse_api_attempt
from portal.testpress.sync import SAFETY_OVERLAP, sync_attempts
from testpress_sandbox import models as sandbox_models
from testpress_sandbox.config import DEFAULTS
from tests.factories import make_attempt, make_exam, make_user
from tests.web.testpress.test_webhook import signed_body, started_payload


@pytest.fixture(autouse=True)
def tiny_backoff(monkeypatch):
    monkeypatch.setattr(client_module, "RETRY_BACKOFF", 0.001)


@pytest.fixture
def portal(make_app, live_sandbox):  # noqa: F811
    """The portal, pointed at the live sandbox, with an app context pushed."""
    app = make_app(
        TESTPRESS_BASE_URL=live_sandbox.url,
        TESTPRESS_API_USERNAME=DEFAULTS["API_USERNAME"],
        TESTPRESS_API_PASSWORD=DEFAULTS["API_PASSWORD"],
    )
    with app.app_context():
        yield app
        db.session.remove()


def sandbox_students(live_sandbox) -> list[tuple[int, str]]:  # noqa: F811
    with live_sandbox.app.app_context():
        return sandbox_models.db.session.execute(
            sa.select(sandbox_models.User.id, sandbox_models.User.email).where(sandbox_models.User.is_staff.is_(False))
        ).all()


def know_students_and_exams(live_sandbox, *, skip_last: int = 1) -> None:  # noqa: F811
    """Create portal students for the sandbox's students (all but the last `skip_last`) and its three exams."""
    students = sandbox_students(live_sandbox)
    for _, email in students[: len(students) - skip_last]:
        make_user(email)
    for testpress_id in (1, 2, 3):
        make_exam(f"Exam {testpress_id}", testpress_id=testpress_id)


def api_client(live_sandbox) -> TestpressClient:  # noqa: F811
    return TestpressClient(live_sandbox.url, DEFAULTS["API_USERNAME"], DEFAULTS["API_PASSWORD"], backoff=0.001)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def sync(portal, *args):
    return portal.test_cli_runner().invoke(args=["testpress", "sync", *args])


def test_sync_creates_one_attempt_per_testpress_attempt_and_reports_unmatched(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(30, users=6)  # five attempts by each of six students
    know_students_and_exams(live_sandbox, skip_last=1)

    result = sync(portal)

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Synced 30 attempts: 25 new, 0 updated, 0 unchanged, 5 unmatched, 0 flagged."
    assert count(Attempt) == 25
    attempt = db.session.scalar(sa.select(Attempt).limit(1))
    assert (attempt.status, attempt.score_source, attempt.verified) == ("completed", "api", True)
    assert attempt.api_seen_at is not None and attempt.score is not None and attempt.max_score is not None
    assert len(attempt.reports) == 1
    assert count(UnmatchedReport) == 5
    assert {row.source for row in db.session.scalars(sa.select(UnmatchedReport))} == {"api"}
    # Students matched by email now carry their Testpress id, for the next sync and the webhook.
    assert db.session.scalar(sa.select(sa.func.count()).where(User.testpress_user_id.is_not(None))) == 5
    run = db.session.scalar(sa.select(SyncRun))
    assert (run.status, run.new, run.unmatched) == ("ok", 25, 5)


def test_running_twice_changes_nothing_the_second_time(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(30, users=6)
    know_students_and_exams(live_sandbox)
    sync(portal)

    result = sync(portal, "--since", "2000-01-01")

    assert result.output.strip() == "Synced 30 attempts: 0 new, 0 updated, 25 unchanged, 5 unmatched, 0 flagged."
    assert count(Attempt) == 25
    assert count(UnmatchedReport) == 5
    assert all(len(a.reports) == 1 for a in db.session.scalars(sa.select(Attempt)))


def test_sync_streams_several_pages(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(45, users=9)
    know_students_and_exams(live_sandbox, skip_last=0)
    pages = []

    summary = sync_attempts(api_client(live_sandbox), page_size=10, on_page=pages.append)

    assert [len(page.results) for page in pages] == [10, 10, 10, 10, 5]
    assert (summary.total, summary.new) == (45, 45)
    assert count(Attempt) == 45


def test_a_crash_halfway_keeps_whole_pages_and_a_rerun_completes_them(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(40, users=8)
    know_students_and_exams(live_sandbox, skip_last=0)

    pages_seen = []

    def crash_after_the_second_page(page):
        pages_seen.append(page)
        if len(pages_seen) == 2:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C, or the process was stopped

    with pytest.raises(KeyboardInterrupt):
        sync_attempts(api_client(live_sandbox), page_size=10, on_page=crash_after_the_second_page)

    assert count(Attempt) == 20
    failed = db.session.scalar(sa.select(SyncRun))
    assert (failed.status, failed.new, failed.error) == ("failed", 20, "KeyboardInterrupt")
    assert failed.high_water is not None

    result = sync(portal, "--since", "2000-01-01")

    assert result.exit_code == 0
    assert result.output.strip() == "Synced 40 attempts: 20 new, 0 updated, 20 unchanged, 0 unmatched, 0 flagged."
    assert count(Attempt) == 40
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Attempt.testpress_attempt_id)))) == 40


def test_an_exhausted_retry_budget_mid_sync_keeps_only_whole_pages(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(40, users=8)
    know_students_and_exams(live_sandbox, skip_last=0)

    pages_seen = []

    def break_testpress_after_the_first_page(page):
        pages_seen.append(page)
        if len(pages_seen) == 1:
            live_sandbox.set_faults(api_fail_next=100)

    with pytest.raises(TestpressError, match="500"):
        sync_attempts(api_client(live_sandbox), page_size=10, on_page=break_testpress_after_the_first_page)

    # Whole pages only: the first, and those already fetched ahead when Testpress broke.
    kept = count(Attempt)
    assert kept in (10, 20, 30)
    failed = db.session.scalar(sa.select(SyncRun))
    assert failed.status == "failed" and "gave up" in failed.error and failed.new == kept


def test_a_token_expiring_mid_sync_is_renewed(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(30, users=6)
    know_students_and_exams(live_sandbox, skip_last=0)

    pages_seen = []

    def expire_tokens(page):
        pages_seen.append(page)
        if len(pages_seen) == 1:
            live_sandbox.set_faults(expire_tokens=True)

    summary = sync_attempts(api_client(live_sandbox), page_size=10, on_page=expire_tokens)

    assert summary.new == 30
    assert count(Attempt) == 30


def test_throttling_and_server_errors_are_ridden_out(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(10, users=2)
    know_students_and_exams(live_sandbox, skip_last=0)
    live_sandbox.set_faults(api_throttle_next=1, api_retry_after=0, api_fail_next=2)

    result = sync(portal)

    assert result.exit_code == 0, result.output
    assert "10 new" in result.output


def test_bad_credentials_exit_non_zero_with_one_line(make_app, live_sandbox):  # noqa: F811
    app = make_app(TESTPRESS_BASE_URL=live_sandbox.url, TESTPRESS_API_USERNAME="admin",
                   TESTPRESS_API_PASSWORD="wrong-password")
    with app.app_context():
        result = sync(app)

        assert result.exit_code != 0
        assert result.output.strip().splitlines() == [
            "Error: Testpress refused the API credentials (POST /api/v2.5/auth-token/ answered 400)"
        ]
        assert "Traceback" not in result.output and "wrong-password" not in result.output
        run = db.session.scalar(sa.select(SyncRun))
        assert run.status == "failed" and "refused" in run.error
        assert count(Attempt) == 0


def test_an_unreachable_testpress_exits_non_zero_with_one_line(make_app):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    app = make_app(TESTPRESS_BASE_URL=f"http://127.0.0.1:{port}")
    with app.app_context():
        result = sync(app)

    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: Testpress") and "could not connect" in line


def test_the_next_run_starts_where_the_last_got_to_less_an_overlap(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(30, users=6)
    know_students_and_exams(live_sandbox, skip_last=0)
    sync(portal)
    first = db.session.scalar(sa.select(SyncRun))
    newest_start = db.session.scalar(sa.select(sa.func.max(Attempt.started_at)))
    assert first.high_water == newest_start

    live_sandbox.seed(1, users=1, random_seed=7)  # a new student's attempt, dated within the last year
    make_user(sandbox_students(live_sandbox)[-1][1])
    with live_sandbox.app.app_context():  # ... started just now
        sandbox_models.db.session.execute(
            sa.update(sandbox_models.Attempt).where(sandbox_models.Attempt.id == 31).values(date=datetime.utcnow())
        )
        sandbox_models.db.session.commit()
    result = sync(portal)

    second = db.session.scalars(sa.select(SyncRun).order_by(SyncRun.id)).all()[-1]
    assert second.since == first.high_water - SAFETY_OVERLAP
    assert "1 new" in result.output
    synced = int(result.output.split()[1])
    assert synced < 31  # only the attempts of the window, not everything again
    assert count(Attempt) == 31


def test_exam_option_syncs_one_testpress_exam(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(30, users=6)
    know_students_and_exams(live_sandbox, skip_last=0)

    result = sync(portal, "--exam", "2")

    assert result.exit_code == 0
    assert result.output.strip() == "Synced 10 attempts: 10 new, 0 updated, 0 unchanged, 0 unmatched, 0 flagged."
    exam = db.session.scalar(sa.select(Exam).where(Exam.testpress_id == 2))
    assert {a.exam_id for a in db.session.scalars(sa.select(Attempt))} == {exam.id}
    assert db.session.scalar(sa.select(SyncRun)).exam_filter == 2


def test_portal_launches_are_completed_not_duplicated(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(3, users=1, exam_id=1, institute_ids_from=500)
    [(_, email)] = sandbox_students(live_sandbox)
    student = make_user(email)
    exam = make_exam(testpress_id=1)
    launches = [make_attempt(student, exam, institute_attempt_id=500 + n) for n in range(3)]

    result = sync(portal)

    assert "0 new, 3 updated" in result.output
    assert count(Attempt) == 3
    for launch in launches:
        db.session.refresh(launch)
        assert launch.status == "completed" and launch.score_source == "api" and launch.testpress_attempt_id


def test_the_api_corrects_a_testpress_id_only_a_return_claimed(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(1, users=1, exam_id=1, institute_ids_from=500)
    [(_, email)] = sandbox_students(live_sandbox)
    launch = make_attempt(make_user(email), make_exam(testpress_id=1), institute_attempt_id=500)
    record_report(launch, Report(source="return", status="completed", testpress_attempt_id="6666", score=1.0))
    db.session.commit()

    [remote] = next(api_client(live_sandbox).iter_attempts()).results

    result = sync(portal)

    assert "0 new, 1 updated" in result.output
    assert count(Attempt) == 1
    db.session.refresh(launch)
    assert (launch.testpress_attempt_id, launch.score_source) == (str(remote["id"]), "api")


def test_exam_ids_are_learnt_from_their_testpress_urls(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(3, users=1, exam_id=3)
    [(_, email)] = sandbox_students(live_sandbox)
    make_user(email)
    exam = make_exam("Maths", exam_url=f"{live_sandbox.url}/exams/run/maths-drill/start/")

    result = sync(portal)

    assert "3 new" in result.output
    db.session.refresh(exam)
    assert exam.testpress_id == 3


def test_unmatched_rows_go_once_staff_add_the_student(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(5, users=1)
    know_students_and_exams(live_sandbox, skip_last=1)
    sync(portal)
    assert count(UnmatchedReport) == 5

    make_user(sandbox_students(live_sandbox)[-1][1])
    result = sync(portal, "--since", "2000-01-01")

    assert "5 new" in result.output and "0 unmatched" in result.output
    assert count(UnmatchedReport) == 0


def test_running_and_not_started_attempts(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(2, users=1, state="Running")
    live_sandbox.seed(2, users=1, state="Not Started")
    know_students_and_exams(live_sandbox, skip_last=0)

    result = sync(portal)

    assert result.output.strip().startswith("Synced 2 attempts: 2 new")
    attempts = db.session.scalars(sa.select(Attempt)).all()
    assert [(a.status, a.score) for a in attempts] == [("started", None), ("started", None)]


@pytest.mark.parametrize("bad", [
    {"id": "x"}, {"state": "Paused"}, {"score": "lots"}, {"user_id": None}, {"date": "yesterday"}, "not an object",
    {"email": "a\x00@example.com"}, {"exam": {"title": "Physics\x00"}}, {"email": "\ud800@example.com"},
    # Readable, but outside the years a time holds once in UTC.
    {"date": "0001-01-01T00:00:00+05:30"}, {"completed_on": "9999-12-31T23:00:00-05:00"},
])
def test_unreadable_api_attempts_are_skipped_not_fatal(bad):
    good = {"id": 1, "user_id": 2, "exam_id": 3, "state": "Completed", "date": "2025-01-01T10:00:00Z",
            "correct_answers_count": 1, "incorrect_answers_count": 0, "unanswered_count": 0,
            "score": "4.00", "percentage": 100.0, "email": None}
    assert parse_api_attempt(good).report.score == 4.0
    with pytest.raises(BadReport):
        parse_api_attempt({**good, **bad} if isinstance(bad, dict) else bad)


def test_high_water_is_held_back_by_a_recently_started_running_attempt(portal, live_sandbox):  # noqa: F811
    live_sandbox.seed(1, users=1, state="Running")
    live_sandbox.seed(3, users=1)
    know_students_and_exams(live_sandbox, skip_last=0)
    running_start = datetime.utcnow() - timedelta(hours=2)
    with live_sandbox.app.app_context():
        sandbox_models.db.session.execute(
            sa.update(sandbox_models.Attempt).where(sandbox_models.Attempt.id == 1).values(date=running_start)
        )
        sandbox_models.db.session.execute(
            sa.update(sandbox_models.Attempt).where(sandbox_models.Attempt.id == 4).values(date=datetime.utcnow())
        )
        sandbox_models.db.session.commit()

    sync(portal)

    run = db.session.scalar(sa.select(SyncRun))
    assert abs(run.high_water - running_start) < timedelta(seconds=1)


def test_a_webhook_arriving_mid_page_waits_for_the_page_and_then_finds_its_attempt(portal, live_sandbox, monkeypatch):  # noqa: F811
    live_sandbox.seed(3, users=1, exam_id=1)
    [(testpress_user_id, email)] = sandbox_students(live_sandbox)
    make_user(email), make_exam(testpress_id=1)
    real_load = AttemptMatcher.load
    webhook_done = threading.Event()
    answers = []

    def deliver_webhook():
        body = signed_body(started_payload(attempt_id=1, user_id=testpress_user_id, email=email, exam={"id": 1}))
        answers.append(portal.test_client().post("/testpress/webhook", data=body,
                                                 content_type="application/json").status_code)
        webhook_done.set()

    raced = []

    def webhook_arrives_mid_page(matcher, items):
        real_load(matcher, items)
        if not raced:  # the sync has looked for attempt 1 and not found it
            raced.append(True)
            threading.Thread(target=deliver_webhook).start()
            # Before the recording lock, the webhook created attempt 1 here, under the page's feet.
            assert not webhook_done.wait(0.5), "the webhook was recorded in the middle of a sync page"

    monkeypatch.setattr(AttemptMatcher, "load", webhook_arrives_mid_page)

    summary = sync_attempts(api_client(live_sandbox))

    assert webhook_done.wait(10) and answers == [200]
    assert (summary.new, summary.updated) == (3, 0)
    assert count(Attempt) == 3
    assert db.session.scalar(sa.select(Attempt).where(Attempt.testpress_attempt_id == "1")).status == "completed"


def test_summary_line_counts_one_attempt_in_the_singular():
    from portal.testpress.sync import SyncSummary

    assert SyncSummary(updated=1).line() == "Synced 1 attempt: 0 new, 1 updated, 0 unchanged, 0 unmatched, 0 flagged."


def test_an_integrity_error_is_one_line_without_the_sql_or_its_data(portal, live_sandbox, monkeypatch):  # noqa: F811
    live_sandbox.seed(3, users=1, exam_id=1)
    [(_, email)] = sandbox_students(live_sandbox)
    make_user(email), make_exam(testpress_id=1)

    def write_a_duplicate_student(client):
        # A real constraint failure, whose SQLAlchemy text carries the statement and this email.
        # (Outside a page: a page the database refuses is recorded attempt by attempt instead.)
        db.session.execute(sa.insert(User).values(email=email, name="Dup", password_hash="x", is_staff=False,
                                                  active=True, created_at=datetime(2025, 1, 1)))

    monkeypatch.setattr(sync_module, "map_testpress_exam_ids", write_a_duplicate_student)

    result = sync(portal)

    assert result.exit_code == 1
    # The driver's own class in brackets: sqlite3's IntegrityError, psycopg's UniqueViolation.
    driver_error = "IntegrityError" if db.engine.dialect.name == "sqlite" else "UniqueViolation"
    expected = f"IntegrityError ({driver_error}): the database refused the sync's writes with a constraint"
    assert result.output.strip().splitlines() == [f"Error: sync failed: {expected}"]
    run = db.session.scalar(sa.select(SyncRun))
    assert (run.status, run.error) == ("failed", expected)
    assert count(Attempt) == 0 and count(User) == 1


def test_an_api_attempt_with_a_nul_is_skipped_and_the_rest_of_its_page_recorded(app, caplog):
    # PostgreSQL holds no NUL in any text: one such attempt failed the whole page, every run.
    from tests.attempts.test_integrity import api_attempt

    make_user("asha@example.com", "Asha", testpress_user_id=311)
    make_user("ravi@example.com", "Ravi", testpress_user_id=533)
    make_exam("Physics Mock 1", testpress_id=12)
    run = SyncRun()
    db.session.add(run)
    db.session.commit()

    sync_module.record_page(sync_module.PageRecorder(None, run), [
        api_attempt(880001, "asha\x00@example.com", 311),
        api_attempt(880002, "ravi@example.com", 533),
    ])

    assert [(a.testpress_attempt_id, a.score) for a in db.session.scalars(sa.select(Attempt))] == [("880002", 163.0)]
    assert "skipped an attempt the API sent: attempt '880001' is unreadable: a field holds a NUL" in caplog.text


def test_a_resumed_take_later_attempt_the_api_lists_without_its_reference_is_one_attempt(app, client):
    from portal.attempts.grading import attempts_used
    from portal.attempts.launching import record_launch
    from tests.attempts.test_integrity import api_attempt
    from tests.web.testpress.test_return import signed_return

    asha = make_user("asha@example.com", "Asha", testpress_user_id=311)
    physics = make_exam("Physics Mock 1", testpress_id=12)
    launched = record_launch(asha, physics)
    cancelled = signed_return(launched, status="cancelled", attempt_id="", score="", percentage="",
                              correct_count="", incorrect_count="", unanswered_count="", rank="", max_rank="")
    assert client.post("/testpress/return", data=cancelled).status_code == 303
    run = SyncRun()
    db.session.add(run)
    db.session.commit()

    # Resumed and finished; the Admin API lists it without institute_attempt_id.
    sync_module.record_page(sync_module.PageRecorder(None, run), [
        api_attempt(68701, "asha@example.com", 311, date=launched.started_at.isoformat() + "Z")])

    [attempt] = db.session.scalars(sa.select(Attempt)).all()
    assert (attempt.id, attempt.status, attempt.testpress_attempt_id, attempt.score) == (
        launched.id, "completed", "68701", 163.0)
    assert (run.new, run.updated) == (0, 1)
    assert attempts_used(asha.id, physics.id) == 1


def test_a_new_attempt_listed_twice_on_a_page_and_again_on_the_next_is_one_attempt_counted_once(app):
    """Testpress's pages shift while a sync reads them, so an attempt can come twice on a page
    and again on the next: it is one attempt, in the run's counts, the standings and the
    exams' kept counts alike."""
    from portal.models import Standing
    from portal.testpress.sync import PageRecorder, record_page
    from tests.attempts.test_integrity import api_attempt
    from tests.exams.test_exam_stats import assert_counts_match_a_recount

    asha = make_user("asha@example.com", "Asha", testpress_user_id=311)
    physics = make_exam("Physics Mock 1", testpress_id=12)
    run = SyncRun()
    db.session.add(run)
    db.session.commit()
    pager = PageRecorder(None, run)
    running = api_attempt(9001, "asha@example.com", 311, state="Running", completed_on=None, score=None,
                          percentage=None)
    completed = api_attempt(9001, "asha@example.com", 311)

    record_page(pager, [running, completed, completed])
    record_page(pager, [completed])

    db.session.expire_all()
    attempt = db.session.scalars(sa.select(Attempt)).one()
    assert (attempt.status, attempt.score, attempt.testpress_attempt_id) == ("completed", 163.0, "9001")
    assert [report.status for report in attempt.reports] == ["started", "completed"]
    standing = db.session.get(Standing, (asha.id, physics.id))
    assert (standing.attempts_used, standing.attempt_id, standing.score) == (1, attempt.id, 163.0)
    assert_counts_match_a_recount()
    run = db.session.get(SyncRun, run.id)
    assert (run.new, run.updated, run.unchanged) == (1, 1, 2)


def test_a_page_of_new_attempts_of_several_kinds_is_stored_whole_in_its_batches(app):
    """A page's new attempts go in by shape (a running one leaves its result out) and by
    batches of power-of-two lengths: each is stored, with its own report, under its own id."""
    from portal.attempts.inserting import _batches
    from portal.testpress.sync import PageRecorder, record_page
    from tests.attempts.test_integrity import api_attempt

    make_user("asha@example.com", "Asha", testpress_user_id=311)
    make_exam("Physics Mock 1", testpress_id=12)
    run = SyncRun()
    db.session.add(run)
    db.session.commit()
    running = {"state": "Running", "completed_on": None, "score": None, "percentage": None}
    page = [api_attempt(9000 + number, "asha@example.com", 311,
                        **(running if number % 3 == 0 else {"score": 100 + number})) for number in range(1, 10)]

    record_page(PageRecorder(None, run), page)

    db.session.expire_all()
    stored = {attempt.testpress_attempt_id: attempt for attempt in db.session.scalars(sa.select(Attempt))}
    assert sorted(stored) == [str(9000 + number) for number in range(1, 10)]
    for number in range(1, 10):
        attempt = stored[str(9000 + number)]
        expected = ("started", None) if number % 3 == 0 else ("completed", 100.0 + number)
        assert (attempt.status, attempt.score) == expected
        assert [(report.testpress_attempt_id, report.status) for report in attempt.reports] == [
            (str(9000 + number), expected[0])]
        assert (attempt.flagged, attempt.needs_confirmation, attempt.other_returns) == (False, False, 0)
    assert [len(batch) for batch in _batches([{}] * 913)] == [512, 256, 128, 16, 1]
