"""Staff in Chromium: resolve a flag on an attempt's page, and press Sync now against the
sandbox, watching the run's page refresh itself until the run is over."""

from __future__ import annotations

import re

import pytest

from portal.attempts.reconciliation import record_report
from portal.core.extensions import db
from tests.attempts.test_reconcile import TAMPERED, report
from tests.factories import make_attempt, make_exam, make_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def staff_page(page, portal):
    _, url = portal
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill("staff@example.com")  # the demo's staff member
    page.get_by_label("Password").fill("staff-demo-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/admin/")
    return page


def test_staff_dismiss_a_flag_with_a_note(staff_page, portal):
    app, url = portal
    with app.app_context():
        attempt = make_attempt(make_user(name="Flagged Student"), make_exam("Tampered Quiz"))
        record_report(attempt, report("return", scores=TAMPERED, testpress_attempt_id="77001"))
        record_report(attempt, report("webhook", testpress_attempt_id="77001"))
        db.session.commit()
        attempt_id = attempt.id
    page = staff_page
    page.goto(f"{url}/admin/attempts/{attempt_id}")
    assert "Possible tampering" in page.content()

    page.get_by_role("button", name="Dismiss with a note").click()  # the browser asks for the note first
    assert page.url == f"{url}/admin/attempts/{attempt_id}" and "Possible tampering" in page.content()
    page.get_by_label("Note (required)").fill("Checked with the student: the signed score is right.")
    page.get_by_role("button", name="Dismiss with a note").click()

    page.wait_for_selector("text=Flag resolved (dismissed)")
    assert "Checked with the student" in page.content()
    assert "Dismiss with a note</button>" not in page.content()


def test_staff_press_sync_now_and_watch_it_finish(staff_page, portal):
    _, url = portal
    page = staff_page
    page.goto(f"{url}/admin/testpress/")
    page.get_by_role("button", name="Sync now").click()

    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/testpress/runs/\d+"))
    # The page refreshes itself (a <meta> refresh: no script, as the CSP wants) until the run is over.
    page.wait_for_selector(".badge-verified:text('ok')", timeout=30_000)
    assert "Pages done" in page.content()


def test_staff_read_a_report_filter_by_batch_export_and_resolve_a_flag(staff_page, portal):
    from portal.people.batches import add_members, create_batch

    app, url = portal
    with app.app_context():
        exam = make_exam("Report Quiz")
        inside, outside = make_user(name="Batch Insider"), make_user(name="Batch Outsider")
        batch = create_batch("Report Batch", by=None)
        add_members(batch, [inside])
        tampered = make_attempt(inside, exam)
        record_report(tampered, report("return", scores=TAMPERED, testpress_attempt_id="77101"))
        record_report(tampered, report("webhook", testpress_attempt_id="77101"))
        make_attempt(outside, exam, status="completed", score=5, max_score=20, percentage=25.0, score_source="webhook")
        db.session.commit()
        exam_id, batch_id, attempt_id = exam.id, batch.id, tampered.id
    page = staff_page

    page.goto(f"{url}/admin/exams/{exam_id}/report")
    assert "Batch Insider" in page.content() and "Batch Outsider" in page.content()
    assert page.locator("svg.chart-histogram").count() == 1

    page.goto(f"{url}/admin/attempts/?exam={exam_id}")
    page.get_by_label("Batch").select_option(str(batch_id))
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(rf"batch={batch_id}"))
    assert "Batch Insider" in page.content() and "Batch Outsider" not in page.content()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = open(download.value.path(), encoding="utf-8-sig").read()
    assert "Batch Insider" in exported and "Batch Outsider" not in exported

    page.goto(f"{url}/admin/attempts/{attempt_id}")
    page.get_by_role("button", name="Accept the signed score").click()
    page.wait_for_selector("text=Flag resolved (signed score accepted)")
    page.goto(f"{url}/admin/attempts/?flagged=1&exam={exam_id}")
    assert "Batch Insider" not in page.content()
