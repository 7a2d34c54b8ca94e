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
    screenshot(staff_page, "import-confirmed")
    with staff_page.expect_download() as downloading:
        staff_page.get_by_role("link", name="Download the links (CSV)").click()
    download = downloading.value
    assert re.fullmatch(r"people-import-\d+-links\.csv", download.suggested_filename)
    lines = Path(download.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "email,name,link" and len(lines) == 4
    assert all(re.search(r",http://127\.0\.0\.1:\d+/password/\S+$", line) for line in lines[1:])
