"""The staff dashboard's figures, and the page that shows them."""

from datetime import timedelta

import pytest

from portal.dashboard import dashboard_figures
from portal.extensions import db
from portal.models import SyncRun, UnmatchedReport, utcnow
from tests.factories import make_attempt, make_exam, make_staff, make_user


def test_the_figures_count_attempts_students_and_what_needs_attention(app):
    chemistry, physics, empty = make_exam("Chemistry"), make_exam("Physics"), make_exam("Zoology")
    asha, ravi = make_user("asha@example.com"), make_user("ravi@example.com")
    make_staff("boss@example.com")
    make_attempt(asha, chemistry, status="completed", percentage=80.0, score_source="webhook")
    make_attempt(ravi, chemistry, status="completed", percentage=40.0, score_source="return",
                 flagged=True, flag_reason="x")
    make_attempt(ravi, chemistry, status="launched", percentage=99.0)  # not completed: not averaged
    make_attempt(asha, physics, status="cancelled")
    db.session.add(UnmatchedReport(source="webhook", testpress_attempt_id="t1", reason="unknown exam", payload="{}"))
    db.session.add_all([SyncRun(started_at=utcnow() - timedelta(days=1)), SyncRun(status="ok")])
    db.session.commit()

    figures = dashboard_figures()

    assert figures.counts == {"completed": 2, "launched": 1, "cancelled": 1}
    assert (figures.total, figures.students, figures.flagged, figures.unverified, figures.unmatched) == (4, 2, 1, 1, 1)
    assert [(exam.title, attempts, completed, average, best)
            for exam, attempts, completed, average, best in figures.per_exam] == [
        ("Chemistry", 3, 2, pytest.approx(60.0), 80.0), ("Physics", 1, 0, None, None), ("Zoology", 0, 0, None, None)]
    assert figures.last_sync.status == "ok"


def test_the_page_shows_the_figures_and_when_the_last_sync_ran(app, client, auth):
    make_staff("boss@example.com")
    make_attempt(make_user(), make_exam("Chemistry"), status="started")
    db.session.add(SyncRun(status="ok", started_at=utcnow() - timedelta(hours=3, minutes=5), new=4))
    db.session.commit()
    auth.login("boss@example.com")

    page = client.get("/admin/").get_data(as_text=True)

    assert "<b>1</b><span>students</span>" in page and "<b>1</b><span>in progress</span>" in page
    assert "Last run 3 hours ago" in page and "4 new" in page


def test_with_no_sync_yet_the_page_says_how_to_run_one(app, client, auth):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    assert "Never run. Run <code>flask --app portal testpress sync</code>" in client.get("/admin/").get_data(as_text=True)
