"""The back button after an exam: the exam list it shows again is today's, never a copy with Start."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_back_after_a_completed_exam_shows_the_exam_finished(logged_in, portal):
    page = logged_in
    _, portal_url = portal
    card = page.locator("article.exam-card", has_text="Maths Drill")
    assert card.get_by_role("button", name="Start").is_visible()
    card.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"//localhost:\d+/exams/take/"))
    page.locator("fieldset").nth(0).get_by_label("56", exact=True).check()
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(re.escape(portal_url) + r"/attempts/\d+$"))
    assert "Status Completed" in " ".join(page.locator("dl.facts").inner_text().split())

    # Back through Testpress's pages to the portal's exam list, as a student would press it.
    served = []
    page.on("response", lambda response: served.append(response.url))
    for _ in range(4):
        page.go_back()
        if page.url == f"{portal_url}/exams/":
            break
    assert page.url == f"{portal_url}/exams/", f"Back never reached the exam list: {page.url}"

    assert f"{portal_url}/exams/" in served  # asked of the portal again, not shown from a copy
    card = page.locator("article.exam-card", has_text="Maths Drill")
    assert "Completed" in card.inner_text()
    assert card.get_by_role("button", name="Retake").is_visible()
    assert card.get_by_role("button", name="Start").count() == 0


def test_a_page_restored_from_the_back_forward_cache_is_fetched_again(logged_in, portal):
    """static/fresh.js: where a browser keeps a page in its back-forward cache despite
    no-store, showing it again (a pageshow that is persisted) reloads it."""
    page = logged_in
    _, portal_url = portal

    with page.expect_navigation(wait_until="load") as reloaded:
        page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")

    assert reloaded.value.url == f"{portal_url}/exams/" and reloaded.value.status == 200  # from the portal
    expect(page.get_by_role("heading", name="Exams", exact=True)).to_be_visible()
