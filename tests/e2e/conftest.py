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
from portal.extensions import db
from portal.models import Exam
from tests.factories import PASSWORD, make_user
from tests.live import serving
from testpress_sandbox import create_app as create_sandbox
from testpress_sandbox.config import DEFAULTS as SANDBOX
from testpress_sandbox.seed import EXAMS, init_db
from testpress_sandbox.webhooks import dispatcher

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
    with app.app_context():
        init_db()
    with serving(app, "localhost") as url:
        yield app, url
    dispatcher(app).stop()


@pytest.fixture(scope="session")
def portal(tmp_path_factory, sandbox):
    """The portal, configured as the sandbox's institute and served on 127.0.0.1; yields (app, base URL)."""
    sandbox_app, sandbox_url = sandbox
    folder = tmp_path_factory.mktemp("portal")
    app = create_portal({
        "SECRET_KEY": "e2e-session-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'portal.sqlite'}",
        "SESSION_COOKIE_SECURE": False,  # plain http on 127.0.0.1
        "REMEMBER_COOKIE_SECURE": False,
        "TESTPRESS_BASE_URL": sandbox_url,
        "TESTPRESS_PUBLIC_KEY": SANDBOX["PUBLIC_KEY"],
        "TESTPRESS_SECRET": SANDBOX["SECRET"],
        "TESTPRESS_PRIVATE_KEY": SANDBOX["PRIVATE_KEY"],
        "TESTPRESS_API_USERNAME": SANDBOX["API_USERNAME"],
        "TESTPRESS_API_PASSWORD": SANDBOX["API_PASSWORD"],
        "TESTPRESS_PERCENT_ENCODING": SANDBOX["PERCENT_ENCODING"],
    })
    with app.app_context():
        db.create_all()
        for spec in EXAMS:
            db.session.add(Exam(title=spec["title"], description=spec["description"], testpress_id=spec["id"],
                                exam_url=f"{sandbox_url}/exams/run/{spec['slug']}/start/"))
        db.session.commit()
    with serving(app, "127.0.0.1") as url:
        yield app, url


@pytest.fixture
def webhooks(portal, sandbox, monkeypatch):
    """Let the sandbox confirm results with signed webhooks to the live portal, as Testpress does.

    Off unless a test asks for it: a webhook racing the browser's return would make what
    the results page shows on arrival depend on timing.
    """
    portal_app, portal_url = portal
    if not any(rule.rule == "/testpress/webhook" for rule in portal_app.url_map.iter_rules()):
        pytest.skip("the portal has no /testpress/webhook receiver yet")
    monkeypatch.setitem(sandbox[0].config, "WEBHOOK_URL", f"{portal_url}/testpress/webhook")
    return sandbox[0]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI installs it")
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
