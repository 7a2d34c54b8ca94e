"""A live portal (on 127.0.0.1) and a live Testpress sandbox (on localhost), driven by headless Chromium.

Two hostnames make two sites, as in production: the sandbox's return POST is truly
cross-site, so the browser leaves the portal's SameSite=Lax session cookie behind.
Both servers and the browser start once per session; each test gets a fresh browser
context (no cookies) and its own student.
"""

from __future__ import annotations

import os
from itertools import count

import pytest

from portal import create_app as create_portal
from portal.core.database import create_database_file
from portal.core.extensions import db
from portal_demo import demo_settings, seed_demo_data
from testpress_sandbox import create_app as create_sandbox
from testpress_sandbox import faults
from testpress_sandbox.server import start_in_thread
from tests.conftest import fresh_database
from tests.factories import PASSWORD, make_user
from tests.live import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_students = count(1)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The sandbox app, served on localhost; yields (app, base URL)."""
    folder = tmp_path_factory.mktemp("sandbox")
    app = create_sandbox({"TESTING": True, "DATABASE": str(folder / "sandbox.sqlite"), "WEBHOOK_URL": "",
                          "WEBHOOK_BACKOFF": 0.1})
    running = start_in_thread(app, host="localhost")
    yield app, running.url
    running.stop()


@pytest.fixture(scope="session")
def portal(tmp_path_factory, sandbox):
    """The portal, configured as the sandbox's institute and served on 127.0.0.1; yields (app, base URL)."""
    sandbox_app, sandbox_url = sandbox
    # The demo's own settings and data, so that these tests walk what `make run` serves.
    with fresh_database(tmp_path_factory.mktemp("portal")) as database_uri:
        app = create_portal({**demo_settings(sandbox_url), "SQLALCHEMY_DATABASE_URI": database_uri})
        with app.app_context():
            create_database_file()  # the app opens an existing file only
            db.create_all()
            seed_demo_data(sandbox_url)
        with serving(app, "127.0.0.1") as url:
            yield app, url


@pytest.fixture
def webhooks(portal, sandbox, monkeypatch):
    """Let the sandbox confirm results with signed webhooks to the live portal, as Testpress does.

    Off unless a test asks for it: a webhook racing the browser's return would make what
    the results page shows on arrival depend on timing.
    """
    _, portal_url = portal
    monkeypatch.setitem(sandbox[0].config, "WEBHOOK_URL", f"{portal_url}/testpress/webhook")
    yield sandbox[0]
    faults.reset()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("E2E_REQUIRE_BROWSER"):
            pytest.fail(f"{message}, and E2E_REQUIRE_BROWSER is set (as in CI)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies), failing fast instead of waiting out long timeouts."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def student(portal):
    """A new student of the portal, so that tests never see each other's attempts."""
    app, _ = portal
    number = next(_students)
    with app.app_context():
        user = make_user(f"student{number}@example.com", f"Meera Student{number}")
        return {"email": user.email, "name": user.name, "password": PASSWORD}


@pytest.fixture
def logged_in(page, portal, student):
    """The page, logged in to the portal as `student` and showing the exams."""
    _, url = portal
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(student["email"])
    page.get_by_label("Password").fill(student["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/exams/")
    return page
