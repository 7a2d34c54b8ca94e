"""Staff in Chromium: resolve a flag on an attempt's page, and press Sync now against the
sandbox, watching the run's page refresh itself until the run is over."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.reconciliation import record_report
from tests.factories import make_attempt, make_exam, make_user
from tests.test_reconcile import TAMPERED, report

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
