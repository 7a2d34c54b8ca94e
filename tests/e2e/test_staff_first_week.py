"""What a first week of staff work showed (issue 25), in Chromium at a desktop and a phone size:
each page as a staff member sees it, screenshotted into build/screenshots/<size>/ for a reviewer."""

from __future__ import annotations

import re
from itertools import count
from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_staff

pytestmark = pytest.mark.e2e

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
_files = count(1)


@pytest.fixture(scope="module")
def staff_contexts(browser, portal):
    """A logged-in staff context per size, logged in once (a login is slow on purpose)."""
    app, url = portal
    with app.app_context():
        make_staff("first-week-staff@example.com", "Farah Firstweek")
    opened = {}
    for size, options in SIZES.items():
        context = browser.new_context(**options, accept_downloads=True)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto(f"{url}/login")
        page.get_by_label("Email").fill("first-week-staff@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{url}/admin/")
        page.close()
        opened[size] = context
    yield opened
    for context in opened.values():
        context.close()


@pytest.fixture(params=list(SIZES))
def staff_page(request, staff_contexts):
    """A staff member's page at each size; `page.size` names it."""
    page = staff_contexts[request.param].new_page()
    page.size = request.param
    yield page
    page.close()


def screenshot(page, name: str) -> None:
    folder = SCREENSHOTS / page.size
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=folder / f"staff-{name}.png", full_page=True)


def no_accessibility_violations(page) -> bool:
    """axe-core's verdict on a page the sweep (test_accessibility.py) cannot open by its URL: a POST's answer."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, [violation["id"] for violation in results.response["violations"]]
    return True


def fits_its_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def upload(page, url: str, text: str) -> None:
    page.goto(f"{url}/admin/people/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": f"week-{next(_files)}.csv", "mimeType": "text/csv", "buffer": text.encode()}])
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/people/import/\d+$"))


def stat(page, label: str) -> str:
    return page.locator(".stat", has_text=label).locator("b").inner_text()


def test_the_preview_counts_follow_the_batches_ticked_for_creation(staff_page, portal):
    _, url = portal
    tag = f"{staff_page.size}{next(_files)}"
    evening = "".join(f"ev{n}-{tag}@example.com,Evening Person {n},,Evening {tag}\n" for n in range(3))
    upload(staff_page, url, f"email,name,password,batch\nok-{tag}@example.com,Okay Person,,\n{evening}"
                            f"not-an-email,Bad Email,,\nnameless-{tag}@example.com,,,\n")
    # Two bad rows, and three that only wait for their batch to be ticked.
    assert (stat(staff_page, "good rows"), stat(staff_page, "with a problem")) == ("1", "5")
    staff_page.get_by_label(f"Create the batch “Evening {tag}”").check()
    assert (stat(staff_page, "good rows"), stat(staff_page, "with a problem")) == ("4", "2")
    staff_page.get_by_label(f"Create the batch “Evening {tag}”").uncheck()
    assert (stat(staff_page, "good rows"), stat(staff_page, "with a problem")) == ("1", "5")
    assert fits_its_width(staff_page)
    screenshot(staff_page, "import-preview")


def test_confirming_an_import_shows_what_was_written_and_offers_the_links_from_there(staff_page, portal):
    _, url = portal
    tag = f"{staff_page.size}{next(_files)}"
    evening = "".join(f"ev{n}-{tag}@example.com,Evening Person {n},,Evening {tag}\n" for n in range(3))
    upload(staff_page, url, f"email,name,password,batch\nown-{tag}@example.com,Own Password,own-pass-123,\n"
                            f"{evening}not-an-email,Bad Email,,\n")
    staff_page.get_by_label(f"Create the batch “Evening {tag}”").check()
    staff_page.get_by_role("button", name="Confirm import").click()
    staff_page.wait_for_url(re.compile(r"/confirm$"))
    main = staff_page.locator("main").inner_text()
    assert "Nothing has been written yet" not in main and "Confirm import" not in main
    assert "Import confirmed" in main and f"New batch created: Evening {tag}" in main
    assert (stat(staff_page, "written"), stat(staff_page, "password the file gave"),
            stat(staff_page, "one-time password link"), stat(staff_page, "not imported")) == ("4", "1", "3", "1")
    assert fits_its_width(staff_page)
    assert no_accessibility_violations(staff_page)
    screenshot(staff_page, "import-confirmed")
    with staff_page.expect_download() as downloading:
        staff_page.get_by_role("link", name="Download the links (CSV)").click()
    download = downloading.value
    assert re.fullmatch(r"people-import-\d+-links\.csv", download.suggested_filename)
    lines = Path(download.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "email,name,link" and len(lines) == 4
    assert all(re.search(r",http://127\.0\.0\.1:\d+/password/\S+$", line) for line in lines[1:])


LOOK = """el => { const s = getComputedStyle(el);
    return [s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius, s.paddingTop, s.paddingLeft,
            s.fontSize, s.fontFamily]; }"""


def test_the_audit_logs_date_filters_look_like_its_other_filters(staff_page, portal):
    _, url = portal
    staff_page.goto(f"{url}/admin/audit")
    select = staff_page.get_by_label("Who").evaluate(LOOK)
    for label in ("From", "To"):
        assert staff_page.get_by_label(label).evaluate(LOOK) == select, label
    screenshot(staff_page, "audit-log")


@pytest.fixture(scope="module")
def audited(portal):
    """An exam published by a staff member with a long name, and a flag accepted: audit entries staff read."""
    app, _ = portal
    from portal.core import audit
    from portal.core.extensions import db
    from tests.factories import make_attempt, make_exam, make_user

    with app.app_context():
        boss = make_staff("audit-reader@example.com", "Priyadarshini Venkataraghavan Subramaniam")
        exam = make_exam("Audit Week Mock")
        attempt = make_attempt(make_user("audited-student@example.com", "Audited Student"), exam, status="completed")
        audit.record(boss, "exam.publish", "exam", exam.id, f"Published exam “{exam.title}” for every batch "
                     "of the institute, morning and evening, after the term's timetable changed",
                     before={"published": False, "instructions": "Read every question twice " * 6},
                     after={"published": True, "instructions": "Read every question once " * 6})
        audit.record(boss, "flag.accepted", "attempt", attempt.id, f"Signed score accepted: attempt {attempt.id}")
        db.session.commit()
        return {"exam": exam.id, "attempt": attempt.id}


def test_the_audit_log_says_what_happened_in_staff_words_and_keeps_its_columns_readable(
        staff_page, portal, audited):
    _, url = portal
    staff_page.goto(f"{url}/admin/audit")
    rows = staff_page.locator("tbody tr")
    published = rows.filter(has_text="Audit Week Mock").first
    what = published.locator("td[data-label='What']").inner_text()
    assert "Published an exam" in what and "exam.publish" not in what
    flag = rows.filter(has_text=f"attempt {audited['attempt']}").first.locator("td[data-label='What']").inner_text()
    assert "Accepted the signed score" in flag and "flag.accepted" not in flag
    # The codes stay the filters' values, named in staff words.
    staff_page.get_by_label("Action").select_option(label="Published an exam")
    staff_page.get_by_role("button", name="Filter").click()
    staff_page.wait_for_url(re.compile(r"action=exam\.publish"))
    assert staff_page.locator("tbody tr").filter(has_text="Audit Week Mock").count() == 1
    screenshot(staff_page, "audit-log-words")
    if staff_page.size == "desktop":  # on a phone each row is a card of "label: value" lines
        widths = published.evaluate("""row => Object.fromEntries([...row.cells].map(cell =>
            [cell.dataset.label, Math.round(cell.getBoundingClientRect().width)]))""")
        assert min(widths.values()) >= 140, widths  # no column squeezed to a word a line
        values = published.locator("dl.changes dd").evaluate_all(
            "dds => dds.map(dd => dd.getBoundingClientRect().width)")
        assert min(values) >= 200, values
        when = published.locator("td[data-label='When']")
        lines = when.evaluate("""cell => { const text = document.createRange(); text.selectNodeContents(cell);
            return text.getBoundingClientRect().height / parseFloat(getComputedStyle(cell).lineHeight); }""")
        assert round(lines) == 1, lines
    assert fits_its_width(staff_page)
    staff_page.locator("tbody tr").filter(has_text="Audit Week Mock").first.get_by_role(
        "link", name=f"Exam {audited['exam']}").click()
    staff_page.wait_for_url(f"{url}/admin/exams/{audited['exam']}")


def test_a_failed_sync_says_what_failed_in_plain_words_with_what_to_do_beside_it(staff_page, portal):
    app, url = portal
    from portal.core.clock import utcnow
    from portal.core.extensions import db
    from portal.models import SyncRun

    with app.app_context():
        db.session.add(SyncRun(status="failed", started_at=utcnow(), finished_at=utcnow(), error=(
            "Testpress POST /api/v2.5/auth-token/ could not connect to localhost:5251 (ConnectionError); "
            "gave up after 3 tries")))
        db.session.commit()
    staff_page.goto(f"{url}/admin/")
    attention = staff_page.locator("section", has_text="Needs attention")
    text = attention.inner_text()
    assert "The portal could not reach Testpress" in text
    assert "/api/v2.5" not in text and "ConnectionError" not in text and "0 new" not in text
    assert "flask --app" not in text
    assert attention.get_by_role("link", name="Check the connection").is_visible()
    assert fits_its_width(staff_page)
    screenshot(staff_page, "dashboard-sync-failed")
    attention.get_by_role("button", name="Try again").click()
    staff_page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/testpress/runs/\d+$"))


@pytest.fixture(scope="module")
def gradebook_rows(portal):
    """An exam for one batch; of 51 students (a page and more), the first is in no batch, the rest in that one."""
    app, _ = portal
    from portal.core.extensions import db
    from portal.people.batches import add_members, create_batch
    from tests.factories import make_exam, make_user

    with app.app_context():
        batch = create_batch("Gradebook Week", by=None)
        exam = make_exam("Gradebook Week Mock", batches=[batch])
        students = [make_user(f"aaron{n:02d}@example.com", f"Aaron Gradebook {n:02d}") for n in range(51)]
        add_members(batch, students[1:])
        db.session.commit()
        return {"exam": exam.id, "batch": batch.id}


def test_the_gradebook_marks_not_attempted_apart_from_not_for_this_student_and_pages_by_name(
        staff_page, portal, gradebook_rows):
    _, url = portal
    staff_page.goto(f"{url}/admin/gradebook/")
    column = staff_page.locator("thead th").all_inner_texts().index(
        next(text for text in staff_page.locator("thead th").all_inner_texts() if "Gradebook Week Mock" in text))

    def cell(name: str) -> str:
        row = staff_page.locator("tbody tr", has=staff_page.get_by_role("rowheader", name=re.compile(name)))
        return row.locator("th, td").nth(column).inner_text().strip()

    assert cell("Aaron Gradebook 00") == "not for this student"
    assert cell("Aaron Gradebook 01") == "not attempted"
    pager = staff_page.get_by_role("navigation", name="Pages").inner_text()
    assert "Next →" in pager and "Older" not in pager
    assert fits_its_width(staff_page)
    screenshot(staff_page, "gradebook")


def test_an_exam_saved_without_its_testpress_id_is_warned_about_where_staff_look(staff_page, portal, sandbox):
    _, url = portal
    title = f"No Id Mock {staff_page.size}"
    staff_page.goto(f"{url}/admin/exams/new")
    staff_page.get_by_label("Title", exact=True).fill(title)
    staff_page.get_by_label("Testpress exam URL").fill(f"{sandbox[1]}/exams/run/no-id-{staff_page.size}/start/")
    staff_page.get_by_role("button", name="Save exam").click()
    staff_page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/exams/\d+$"))
    warning = staff_page.locator(".flash-warning").inner_text()
    assert f"“{title}” has no Testpress exam id" in warning and "match no exam" in warning
    details = staff_page.locator("dl.facts").first.inner_text()
    assert "Missing: Testpress's webhooks and Admin API name an exam by that id" in " ".join(details.split())
    assert fits_its_width(staff_page)
    screenshot(staff_page, "exam-without-testpress-id")


def test_the_staff_preview_of_the_students_exam_list_is_a_link_from_the_exams(staff_page, portal):
    _, url = portal
    staff_page.goto(f"{url}/admin/exams/")
    assert fits_its_width(staff_page)
    screenshot(staff_page, "exams-with-preview-link")
    staff_page.get_by_role("link", name="Preview the students' list").click()
    staff_page.wait_for_url(f"{url}/exams/")
    assert "preview" in staff_page.locator("main").inner_text().lower()
    assert staff_page.get_by_role("button", name=re.compile("Start")).count() == 0


def test_staff_navigation_folds_into_a_menu_on_a_phone(staff_page, portal):
    _, url = portal
    staff_page.goto(f"{url}/admin/")
    audit_link = staff_page.get_by_role("link", name="Audit log")
    menu = staff_page.get_by_role("button", name="Menu")
    if staff_page.size == "desktop":
        assert audit_link.is_visible() and not menu.is_visible()
        return
    # The content starts near the top, under a header of one line.
    assert staff_page.locator("h1").bounding_box()["y"] < 120
    assert not audit_link.is_visible()
    assert menu.get_attribute("aria-expanded") == "false"
    screenshot(staff_page, "menu-folded")
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true" and audit_link.is_visible()
    assert staff_page.get_by_role("button", name="Log out").is_visible()
    assert no_accessibility_violations(staff_page)
    screenshot(staff_page, "menu-open")
    audit_link.click()
    staff_page.wait_for_url(f"{url}/admin/audit")


def test_the_import_preview_fits_its_page_at_desktop_width(staff_page, portal):
    _, url = portal
    tag = f"{staff_page.size}{next(_files)}"
    upload(staff_page, url, "email,name,password,batch\n"
                            f"someone.with.a.long.address-{tag}@a-long-institute-domain.example.com,"
                            "Kumaraswamy Venkatanarasimharajuvaripeta,,Evening Batch of the Second Term 2027\n"
                            "not-an-email,A Name That Is Long Enough To Wrap Somewhere,short,Another Unknown Batch\n")
    wide = staff_page.evaluate("""[...document.querySelectorAll('main .table-wrap, main .card')]
        .filter(box => box.scrollWidth > box.clientWidth + 1)
        .map(box => [box.className, box.scrollWidth, box.clientWidth])""")
    assert wide == []
    assert fits_its_width(staff_page)
    screenshot(staff_page, "import-preview-long-rows")


@pytest.fixture(scope="module")
def reported_exam(portal):
    """An exam whose three verified completions all fell on one day."""
    app, _ = portal
    from datetime import timedelta

    from portal.core.clock import utcnow
    from tests.factories import make_attempt, make_exam, make_user

    with app.app_context():
        exam = make_exam("One Day Mock")
        done = utcnow() - timedelta(hours=1)
        for number, score in enumerate((8, 12, 17)):
            make_attempt(make_user(f"oneday{number}@example.com", f"One Day {number}"), exam, status="completed",
                         score=score, max_score=20, percentage=score * 5, score_source="api",
                         started_at=done - timedelta(minutes=30), completed_at=done)
        return exam.id


def test_the_exam_reports_charts_draw_bars_and_label_them_no_larger_than_the_text(staff_page, portal,
                                                                                   reported_exam):
    _, url = portal
    staff_page.goto(f"{url}/admin/exams/{reported_exam}/report")
    timeline = staff_page.locator("svg.chart-timeline")
    widths = timeline.evaluate("""svg => [svg.getBoundingClientRect().width,
        ...[...svg.querySelectorAll('rect.bar')].map(bar => bar.getBoundingClientRect().width)]""")
    chart, bars = widths[0], widths[1:]
    assert len(bars) == 1 and bars[0] <= chart / 6, widths  # one day: one bar, not a block across the card
    body = staff_page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)")
    sizes = staff_page.evaluate("""[...document.querySelectorAll('svg.chart text')].map(text =>
        parseFloat(getComputedStyle(text).fontSize) * text.ownerSVGElement.getScreenCTM().a)""")
    assert sizes and max(sizes) <= body + 0.5, (max(sizes), body)
    assert min(sizes) >= 11
    assert fits_its_width(staff_page)
    screenshot(staff_page, "exam-report")


def test_the_dashboards_tiles_read_alike(staff_page, portal):
    _, url = portal
    staff_page.goto(f"{url}/admin/")
    # ::first-letter styles a block's first letter only: an inline label would keep its lower case.
    cases = staff_page.locator(".stat > span").evaluate_all("""spans => spans.map(span =>
        [getComputedStyle(span).display, getComputedStyle(span, '::first-letter').textTransform])""")
    assert len(cases) >= 9 and {tuple(case) for case in cases} == {("block", "uppercase")}
    screenshot(staff_page, "dashboard")


@pytest.fixture(scope="module")
def delivered(portal):
    """A Testpress webhook that recorded an attempt's result, one kept aside for a student the
    portal does not know, and a forged one refused."""
    app, _ = portal
    import json

    from portal.core.extensions import db
    from portal.models import UnmatchedReport, WebhookDelivery
    from tests.factories import make_attempt, make_exam, make_user

    with app.app_context():
        attempt = make_attempt(make_user("hooked@example.com", "Hooked Student"), make_exam("Webhook Week Mock"),
                               status="completed", score=14, max_score=20, percentage=70, score_source="webhook",
                               testpress_attempt_id="tp-week-1")
        claims = {"email": "nobody-yet@example.com", "username": "nobody", "user_id": 4242,
                  "exam": {"id": 4343, "title": "Chemistry Week Final"}}
        db.session.add_all([
            WebhookDelivery(outcome="recorded", verified=True, attempt_state="completed",
                            testpress_attempt_id="tp-week-1", attempt_id=attempt.id, payload="{}"),
            WebhookDelivery(outcome="unmatched", verified=True, attempt_state="completed",
                            testpress_attempt_id="tp-week-2", payload=json.dumps(claims)),
            UnmatchedReport(source="webhook", testpress_attempt_id="tp-week-2", email=claims["email"],
                            testpress_user_id=4242, testpress_exam_id=4343, payload=json.dumps(claims),
                            reason="no portal student nobody-yet@example.com; no portal exam with Testpress id 4343"),
            WebhookDelivery(outcome="rejected", verified=False, reason="hash does not match the body (sha512)",
                            testpress_attempt_id="tp-week-3",
                            payload=json.dumps({**claims, "username": "<b>forged</b>", "email": "hooked@example.com"})),
        ])
        db.session.commit()
        return attempt.id


def row_text(page, text: str) -> str:
    return " ".join(page.locator("tbody tr", has_text=text).inner_text().split())


def test_the_webhook_log_and_an_attempt_say_who_which_exam_and_what_happened(staff_page, portal, delivered):
    _, url = portal
    staff_page.goto(f"{url}/admin/testpress/deliveries/")
    text = row_text(staff_page, "tp-week-1")
    assert "Hooked Student" in text and "Webhook Week Mock" in text and "Recorded: the student's result" in text
    text = row_text(staff_page, "tp-week-2")
    assert "nobody-yet@example.com" in text and "Chemistry Week Final" in text
    assert "Testpress exam id 4343, not set up in the portal" in text and "Kept aside: no student with this" in text
    text = row_text(staff_page, "tp-week-3")
    assert "<b>forged</b>" in text and "as the delivery claims, unverified" in text
    assert "Refused: the signature did not match, so nothing was recorded" in text
    assert fits_its_width(staff_page)
    screenshot(staff_page, "webhook-log")
    staff_page.locator("tbody tr", has_text="tp-week-3").get_by_role("link").first.click()
    text = " ".join(staff_page.locator("main").inner_text().split())
    assert "Refused: the signature did not match" in text and "as the delivery claims, unverified" in text
    assert fits_its_width(staff_page)
    screenshot(staff_page, "webhook-delivery-refused")
    staff_page.goto(f"{url}/admin/attempts/{delivered}")
    assert "Testpress's own signed notice of the result" in staff_page.locator("main").inner_text()
    screenshot(staff_page, "attempt-source")
