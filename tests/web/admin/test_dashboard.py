"""The staff dashboard's figures, the page that shows them, and their cost at any size."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.attempts.dashboard import dashboard_figures
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import SyncRun, UnmatchedReport, WebhookDelivery
from tests.factories import make_attempt, make_exam, make_staff, make_user


@contextmanager
def counted_statements():
    """The SQL statements run inside the block, as a list that fills as they run."""
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def test_the_figures_count_attempts_students_and_what_needs_attention(app):
    chemistry, physics = make_exam("Chemistry"), make_exam("Physics")
    make_exam("Zoology")  # an exam nobody took counts nothing
    asha, ravi = make_user("asha@example.com"), make_user("ravi@example.com")
    make_staff("boss@example.com")
    now = utcnow()
    make_attempt(asha, chemistry, status="completed", percentage=80.0, score_source="webhook")
    make_attempt(ravi, chemistry, status="completed", percentage=40.0, score_source="return",
                 flagged=True, flag_reason="x", started_at=now - timedelta(hours=3))
    make_attempt(ravi, physics, status="completed", percentage=70.0, score_source="return",
                 started_at=now - timedelta(minutes=20))  # unverified, but only for twenty minutes
    make_attempt(ravi, chemistry, status="launched", percentage=99.0)  # not completed: not averaged
    make_attempt(asha, physics, status="cancelled")
    db.session.add(UnmatchedReport(source="webhook", testpress_attempt_id="t1", reason="unknown exam", payload="{}"))
    db.session.add_all([
        WebhookDelivery(outcome="rejected", reason="bad hash", received_at=now - timedelta(hours=3)),
        WebhookDelivery(outcome="rejected", reason="bad hash", received_at=now - timedelta(hours=25)),  # too old
        WebhookDelivery(outcome="recorded", verified=True, received_at=now - timedelta(hours=1)),
    ])
    db.session.add_all([SyncRun(started_at=now - timedelta(days=1)),
                        SyncRun(status="failed", error="Testpress said 500")])
    db.session.commit()

    figures = dashboard_figures()

    assert [str(count) for count in (figures.flagged, figures.unverified, figures.unmatched,
                                     figures.failing_webhooks)] == ["1", "1", "1", "1"]
    assert figures.counts == {"completed": 3, "launched": 1, "cancelled": 1}
    assert (figures.total, figures.students, figures.in_progress) == (5, 2, 1)
    assert [(row.exam.title, row.attempts, row.completed, row.average, row.best) for row in figures.per_exam] == [
        # The browser's claims (Chemistry's 40%, Physics' 70%) are in no average and no best.
        ("Chemistry", 3, 2, 80.0, 80.0), ("Physics", 2, 1, None, None), ("Zoology", 0, 0, None, None)]
    assert figures.last_sync.status == "failed"


def test_a_lower_re_evaluation_lowers_the_best_score(app):
    exam = make_exam("Chemistry")
    top = make_attempt(make_user(), exam, status="completed", percentage=95.0, score_source="webhook")
    make_attempt(make_user(), exam, status="completed", percentage=60.0, score_source="webhook")
    top.percentage = 50.0  # re-evaluated
    db.session.commit()
    [row] = dashboard_figures().per_exam
    assert (row.best, row.average) == (60.0, pytest.approx(55.0))


def test_attention_counts_stop_at_their_cap_and_say_so(app, monkeypatch):
    from portal.attempts import dashboard
    monkeypatch.setattr(dashboard, "ATTENTION_CAP", 2)
    exam, student = make_exam(), make_user()
    for _ in range(3):
        make_attempt(student, exam, flagged=True, flag_reason="x")
    assert str(dashboard_figures().flagged) == "more than 2"


def test_the_page_shows_what_needs_attention_first_with_links(app, client, auth):
    make_staff("boss@example.com")
    exam = make_exam("Chemistry")
    make_attempt(make_user(), exam, status="started")
    make_attempt(make_user(), exam, status="completed", flagged=True, flag_reason="x")
    db.session.add(SyncRun(status="ok", started_at=utcnow() - timedelta(hours=3, minutes=5), new=4))
    db.session.commit()
    auth.login("boss@example.com")

    page = client.get("/admin/").get_data(as_text=True)

    attention = page.index("Needs attention")
    assert attention < page.index("<span>students</span>") < page.index("By exam")
    # One flag is "1 flag", never "1 flags" (#25 item 18); the other tiles agree with their numbers too.
    assert '<a href="/admin/attempts/?flagged=1"><b>1</b></a><span>flag to resolve</span>' in page
    assert "<b>0</b></a><span>unmatched Testpress reports</span>" in page
    assert "/admin/attempts/?verified=return&amp;to=" in page
    assert "<b>2</b><span>students</span>" in page and "<b>1</b><span>in progress</span>" in page
    assert "Last Testpress sync 3 hours ago" in page and "4 new" in page


def test_the_unverified_link_lists_what_was_counted(app, client, auth):
    make_staff("boss@example.com")
    exam = make_exam("Chemistry")
    make_attempt(make_user(name="Old Return"), exam, status="completed", percentage=40.0, score_source="return",
                 started_at=utcnow() - timedelta(hours=3))  # past the 2 hours of grace
    make_attempt(make_user(name="New Return"), exam, status="completed", percentage=40.0, score_source="return",
                 started_at=utcnow() - timedelta(minutes=5))
    auth.login("boss@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    link = page.split('<a href="/admin/attempts/?verified=return&amp;to=')[1].split('"')[0]

    listed = client.get(f"/admin/attempts/?verified=return&to={link}").get_data(as_text=True)

    assert "Old Return" in listed and "New Return" not in listed


def test_with_no_sync_yet_the_page_says_how_to_run_one(app, client, auth):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    assert "Testpress sync never run. Run <code>flask --app portal testpress sync</code>" in client.get(
        "/admin/").get_data(as_text=True)


def seed(students: int, exams: list, per_student: int) -> None:
    for number in range(students):
        student = make_user(name=f"Student {number}")
        for exam in exams:
            for attempt in range(per_student):
                make_attempt(student, exam, status="completed" if attempt % 2 else "started",
                             percentage=float(attempt * 10) if attempt % 2 else None,
                             score_source="webhook" if attempt % 2 else None, flagged=attempt == 3)


@pytest.mark.parametrize("url", ["/admin/", "/admin/attempts/", "/admin/attempts/?sort=student",
                                 "/admin/attempts/?flagged=1&sort=score", "/admin/attempts/?status=completed"])
def test_the_staff_pages_run_as_many_statements_for_many_attempts_as_for_few(app, client, auth, url):
    make_staff("boss@example.com")
    exams = [make_exam("Chemistry"), make_exam("Physics")]
    seed(1, exams, 2)  # 4 attempts
    auth.login("boss@example.com")
    db.session.expire_all()  # as after the seeding below: the requests share this session
    with counted_statements() as few:
        assert client.get(url).status_code == 200
    seed(6, exams, 6)  # 76 attempts, more than a page
    db.session.expire_all()
    with counted_statements() as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), "\n".join(statement[:300].replace("\n", " ") for statement in few + ["--"] + many)


def test_with_no_sync_yet_the_page_offers_sync_now(app, client, auth):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    assert '<form class="inline-form" method="post" action="/admin/testpress/sync">' in page
    assert ">Sync now</button>" in page


def test_a_failed_sync_says_what_failed_and_offers_the_check_and_another_try(app, client, auth):
    make_staff("boss@example.com")
    db.session.add(SyncRun(status="failed", started_at=utcnow() - timedelta(minutes=5), error=(
        "Testpress GET /api/v2.5/admin/exams/ answered 503; gave up after 3 tries")))
    db.session.commit()
    auth.login("boss@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Testpress had a problem of its own and could not answer." in page
    assert "answered 503" not in page and "0 new" not in page
    assert '<a class="button" href="/admin/testpress/check">Check the connection</a>' in page
    assert ">Try again</button>" in page
    run_page = client.get(f"/admin/testpress/runs/{db.session.scalar(sa.select(SyncRun.id))}").get_data(as_text=True)
    assert "Testpress had a problem of its own" in run_page and "answered 503; gave up after 3 tries" in run_page

