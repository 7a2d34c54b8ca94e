"""What a first week showed a student and staff member (#25), in Chromium at a desktop and a
phone size: a Testpress that does not open, a score Testpress gave without its maximum, what
Testpress confirmed of a result, a result that updates itself, the login's way forward, the
account page's names for its fields, an exam card's unverified score, and the one-time link's
Copy button."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Attempt, User
from tests.e2e.test_accessibility import SIZES
from tests.factories import PASSWORD, make_attempt, make_exam, make_user

pytestmark = pytest.mark.e2e


@pytest.fixture(params=SIZES)
def sized(request, browser):
    """A fresh browser context at one of the two sizes; yields (page, size)."""
    context = browser.new_context(**SIZES[request.param])
    context.set_default_timeout(10_000)
    yield context.new_page(), request.param
    context.close()


def log_in(page, url: str, email: str, password: str = PASSWORD, lands: str = "/exams/"):
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}{lands}")


def words(locator) -> str:
    return " ".join(locator.inner_text().split())


def shoot(page, name: str, size: str):
    page.screenshot(path=f"/tmp/first-week-{name}-{size}.png", full_page=True)


def test_a_testpress_that_does_not_open_keeps_the_attempt_to_resume(sized, portal, student, sandbox):
    page, size = sized
    app, url = portal
    title = f"Offline Check {size}"
    with app.app_context():
        make_exam(title, exam_url=f"{sandbox[1]}/exams/run/chemistry-quiz/start/", attempts_allowed=1)
    log_in(page, url, student["email"])
    # Testpress cannot be reached: the browser's own error page, as a student would see it.
    page.route(re.compile(r"//localhost:\d+/exams/run/"), lambda route: route.abort("connectionrefused"))
    page.route("**/static/launch.js", lambda route: route.fulfill(body="", content_type="text/javascript"))
    card = page.locator("article.exam-card", has_text=title)

    card.get_by_role("button", name="Start").click()

    assert words(page.locator("main")).endswith(
        "If Testpress does not open, come back to your exams and press Resume to try again. This attempt is "
        "kept: Resume opens the same attempt, which uses none of the attempts allowed until Testpress has seen it.")
    shoot(page, "launch", size)
    # The browser's own "This site can't be reached".
    with page.expect_event("framenavigated", predicate=lambda frame: frame.url.startswith("chrome-error:")):
        page.get_by_role("button", name="Continue to Testpress").click()
    page.goto(f"{url}/exams/")
    # A launch Testpress never saw uses none of the attempts allowed, and the card says so.
    assert "0 of 1 attempt used" in words(card) and "You have used every attempt allowed" not in words(card)
    assert ("Testpress has not reported this attempt yet. If it did not open, press Resume to try again: it "
            "opens this same attempt, which uses none of the attempts allowed until Testpress has seen it.") in words(
        card)
    shoot(page, "card-after-launch", size)
    card.get_by_role("button", name="Resume").click()  # still down: the same attempt again
    page.goto(f"{url}/exams/")
    page.unroute(re.compile(r"//localhost:\d+/exams/run/"))
    page.unroute("**/static/launch.js")
    card.get_by_role("button", name="Resume").click()  # Testpress is back
    page.wait_for_url(re.compile(r"//localhost:\d+/exams/take/"))
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == student["email"]))
        assert db.session.scalar(sa.select(sa.func.count(Attempt.id)).where(Attempt.student_id == user_id)) == 1


def test_a_score_testpress_gave_without_its_maximum_says_so(sized, portal, student):
    page, size = sized
    app, url = portal
    with app.app_context():
        person = db.session.scalar(sa.select(User).where(User.email == student["email"]))
        # Evaluated after "pending": the webhook's score and percentage, no maximum, no rank.
        attempt_id = make_attempt(person, make_exam(f"Essay Mock {size}"), status="completed", score=5.0,
                               percentage=25.0, total_count=4, correct_count=2, incorrect_count=1,
                               unanswered_count=1, score_source="webhook", testpress_attempt_id=f"essay-{size}",
                               completed_at=utcnow()).id
    log_in(page, url, student["email"])

    page.goto(f"{url}/attempts/{attempt_id}")

    facts = words(page.locator("dl.facts"))
    assert "Score 5 (Testpress has not given the maximum yet)" in facts
    assert "Rank Testpress has not given a rank" in facts
    shoot(page, "no-maximum", size)


def test_a_result_says_once_what_testpress_confirmed_and_what_came_from_the_browser(sized, portal, student):
    page, size = sized
    app, url = portal
    with app.app_context():
        person = db.session.scalar(sa.select(User).where(User.email == student["email"]))
        # The webhook's signed score, beside the return's maximum and rank.
        attempt_id = make_attempt(person, make_exam(f"Claimed Mock {size}"), status="completed", score=7.0,
                               max_score=20.0, percentage=35.0, rank=2, max_rank=9, total_count=5, correct_count=2,
                               incorrect_count=1, unanswered_count=2, score_source="webhook",
                               testpress_attempt_id=f"claimed-{size}", completed_at=utcnow()).id
    log_in(page, url, student["email"])

    page.goto(f"{url}/attempts/{attempt_id}")

    main = words(page.locator("main"))
    assert words(page.locator(".confirmation")) == (
        "Verified by Testpress Review on Testpress Testpress confirmed the score, the percentage and the "
        "answers. The maximum score and the rank came back with your browser only: Testpress's signed report "
        "does not include them, so they are not verified.")
    assert main.count("verified") == 1 and main.count("Verified") == 1  # said once, in one place
    shoot(page, "claimed", size)


def test_an_unverified_result_updates_itself_once_testpress_confirms_it(sized, portal, student):
    page, size = sized
    app, url = portal
    with app.app_context():
        person = db.session.scalar(sa.select(User).where(User.email == student["email"]))
        attempt_id = make_attempt(person, make_exam(f"Waiting Mock {size}"), status="completed", score=8.0,
                               max_score=20.0, percentage=40.0, total_count=5, correct_count=2, incorrect_count=0,
                               unanswered_count=3, score_source="return", started_at=utcnow() - timedelta(minutes=5),
                               completed_at=utcnow()).id
    log_in(page, url, student["email"])
    page.goto(f"{url}/attempts/{attempt_id}")
    assert "This page updates by itself once Testpress confirms the result." in words(page.locator("main"))
    shoot(page, "waiting", size)

    with app.app_context():  # Testpress's signed webhook arrives
        confirmed = db.session.get(Attempt, attempt_id)
        confirmed.score_source, confirmed.testpress_attempt_id = "webhook", f"waiting-{size}"
        db.session.commit()

    page.locator(".badge-verified", has_text="Verified by Testpress").wait_for(timeout=20_000)
    assert "updates by itself" not in words(page.locator("main"))


def verified_then(email: str, title: str, latest: dict, **verified) -> int:
    """A new exam `title` with the student's result Testpress verified a day ago (`verified`:
    its scores) and a later attempt an hour ago (`latest`: its columns); the exam's id."""
    person = db.session.scalar(sa.select(User).where(User.email == email))
    exam = make_exam(title)
    make_attempt(person, exam, status="completed", score_source="webhook", started_at=utcnow() - timedelta(days=1),
                 **verified)
    make_attempt(person, exam, started_at=utcnow() - timedelta(hours=1), **latest)
    return exam.id


def test_an_exam_card_says_a_score_the_browser_alone_reported_is_not_yet_verified(sized, portal, student):
    page, size = sized
    app, url = portal
    title = f"Claimed Card Mock {size}"
    with app.app_context():
        verified_then(student["email"], title, score=2.0, max_score=4.0, percentage=50.0,
                      latest=dict(status="completed", score=3.0, max_score=4.0, percentage=75.0, score_source="return"))
    log_in(page, url, student["email"])
    card = page.locator("article.exam-card", has_text=title)

    assert "Score 3 / 4 (75.0%) Not yet verified by Testpress" in words(card.locator(".exam-state"))
    assert card.locator(".badge-unverified", has_text="Not yet verified by Testpress").is_visible()
    assert "Best: 2 / 4" in words(card)
    shoot(page, "unverified-card", size)


def test_the_history_chart_draws_a_percentage_the_browser_alone_reported_hollow(sized, portal, student):
    page, size = sized
    app, url = portal
    with app.app_context():
        exam_id = verified_then(student["email"], f"Claimed Chart Mock {size}", score=2.0, max_score=4.0,
                                percentage=50.0, latest=dict(status="completed", score=3.0, max_score=4.0,
                                                             percentage=75.0, score_source="return"))
    log_in(page, url, student["email"])
    page.goto(f"{url}/attempts/?exam={exam_id}")
    verified, claimed = page.locator("svg.chart-progress circle.dot").all()

    fills = [dot.evaluate("dot => getComputedStyle(dot).fill") for dot in (verified, claimed)]
    assert fills[0] != fills[1] and fills[1] == "rgb(255, 255, 255)"  # hollow: the card's colour
    assert claimed.is_visible()
    assert claimed.locator("title").text_content().endswith("75.0% (Not yet verified by Testpress)")
    shoot(page, "unverified-chart", size)

def test_the_login_page_says_what_to_do_without_a_password(sized, portal):
    page, size = sized
    _, url = portal

    page.goto(f"{url}/login")

    assert ("Never set a password, or forgotten it? Ask your institute for a new sign-in link."
            in words(page.locator("main")))
    shoot(page, "login", size)


def test_every_field_of_the_account_page_has_its_own_name(sized, portal, student):
    page, size = sized
    _, url = portal
    log_in(page, url, student["email"])

    page.goto(f"{url}/account")

    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(element => element.id)")
    assert len(ids) == len(set(ids)), f"repeated ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
    for name in ("Current password", "New password", "New password again"):
        assert page.get_by_label(name, exact=True).evaluate("field => field.type") == "password"
    shoot(page, "account", size)


def test_an_in_progress_card_does_not_call_the_unfinished_attempt_a_result(sized, portal, student):
    page, size = sized
    app, url = portal
    title = f"Paused Mock {size}"
    with app.app_context():
        exam_id = verified_then(student["email"], title, score=14.0, max_score=20.0, percentage=70.0,
                                latest=dict(status="cancelled"))
    log_in(page, url, student["email"])
    card = page.locator("article.exam-card", has_text=title)

    assert card.get_by_role("link", name="Latest result").count() == 0
    card.get_by_role("link", name="My attempts at this exam").click()

    page.wait_for_url(f"{url}/attempts/?exam={exam_id}")
    assert page.locator("tbody tr").count() == 2
    shoot(page, "paused-card", size)


def test_staff_copy_a_one_time_link_with_one_press(sized, portal):
    page, size = sized
    app, url = portal
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    with app.app_context():
        person_id = make_user(name=f"Linkless Student {size}").id
    log_in(page, url, "staff@example.com", "staff-demo-pass", lands="/admin/")
    page.goto(f"{url}/admin/people/{person_id}")
    page.get_by_role("button", name=re.compile("one-time password link", re.I)).click()
    link = page.get_by_label("The link").input_value()

    page.get_by_role("button", name="Copy the link").click()

    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.get_by_role("status").inner_text() == "Copied."
    shoot(page, "password-link", size)


def test_without_javascript_the_link_page_offers_no_copy_button_that_cannot_copy(browser, portal):
    app, url = portal
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    with app.app_context():
        person_id = make_user(name="Scriptless Student").id
    log_in(page, url, "staff@example.com", "staff-demo-pass", lands="/admin/")
    page.goto(f"{url}/admin/people/{person_id}")
    page.get_by_role("button", name=re.compile("one-time password link", re.I)).click()

    assert page.get_by_label("The link").input_value().startswith(url)
    assert not page.get_by_role("button", name="Copy the link").is_visible()
    context.close()
