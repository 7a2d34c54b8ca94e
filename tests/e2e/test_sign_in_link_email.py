"""Staff in Chromium import people without passwords and press "Email sign-in links"; the
message arrives at the sandbox's mail catcher, and the student opens the link from it and
sets a password."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.core.passwords import check_password
from portal.mail import outbox
from portal.models import User
from testpress_sandbox.mailbox import mailbox
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

CSV = "\ufeffemail,name\r\nnisha.new@example.com,Nisha New\r\n"


@pytest.fixture
def catcher(portal, sandbox, monkeypatch):
    """The sandbox's mail catcher on a free port, the live portal's MAIL_PORT."""
    port = free_port()
    mailbox(sandbox[0]).start_smtp("127.0.0.1", port)
    monkeypatch.setitem(portal[0].config, "MAIL_PORT", port)
    yield mailbox(sandbox[0])
    mailbox(sandbox[0]).stop()


def test_staff_email_sign_in_links_and_the_student_sets_a_password_from_the_message(browser, portal, sandbox,
                                                                                    catcher):
    app, url = portal
    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill("staff@example.com")
    page.get_by_label("Password").fill("staff-demo-pass")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/admin/")

    page.goto(f"{url}/admin/people/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "new.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/people/import/\d+$"))
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_selector("h1:has-text('Import confirmed')")  # with its own links' download, and the offer
    page.get_by_text("The message they get").click()
    assert "Hello Nisha New," in page.locator(".mail-preview").inner_text()
    page.get_by_role("button", name="Email sign-in links to the 1 person who has not signed in").click()
    page.wait_for_selector("text=Sign-in links for 1 person are being emailed")
    staff.close()

    with app.app_context():  # the worker's outbox job
        assert outbox.send_due().sent == 1

    student = browser.new_context().new_page()
    student.set_default_timeout(15_000)
    student.goto(f"{sandbox[1]}/sandbox/mail/")
    student.get_by_role("link", name="Demo Institute: choose your password").click()
    student.locator(".mail-body a").click()
    student.wait_for_url(re.compile(rf"{re.escape(url)}/password/"))
    student.get_by_label("New password", exact=True).fill("nisha-own-password")
    student.get_by_label("New password again").fill("nisha-own-password")
    student.get_by_role("button", name="Set my password").click()
    student.wait_for_selector("text=Your new password is set. Log in with it.")
    with app.app_context():
        nisha = db.session.scalar(sa.select(User).where(User.email == "nisha.new@example.com"))
        assert check_password(nisha.password_hash, "nisha-own-password")
    student.context.close()
