"""Staff in Chromium set up a term: import people from a CSV with a bad row, make a batch
and an exam for it; the batch's student sees and starts the exam, another does not."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.core.passwords import check_password
from portal.models import User

pytestmark = pytest.mark.e2e

CSV = (
    "\ufeffemail,name,password\r\n"  # as Excel writes it
    "kiran.batch@example.com,Kiran Batch,kiran-first-pass\r\n"
    "lata.other@example.com,Lata Other,lata-first-pass\r\n"
    "not-an-email,Broken Row,broken-row-pass\r\n"
)


def log_in(page, url, email, password):
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_staff_onboard_a_batch_whose_student_alone_sees_its_exam(browser, portal, sandbox):
    app, url = portal
    staff = browser.new_context()
    page = staff.new_page()
    page.set_default_timeout(15_000)
    log_in(page, url, "staff@example.com", "staff-demo-pass")  # the demo's staff member
    page.wait_for_url(f"{url}/admin/")

    # Import: the preview shows the bad row's problem and writes nothing until confirmed.
    page.goto(f"{url}/admin/people/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "term.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/people/import/\d+$"))
    assert "not-an-email" in page.content() and "Confirm import" in page.content()
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.email == "kiran.batch@example.com")) is None
    page.get_by_role("button", name="Confirm import").click()
    page.wait_for_load_state()
    with app.app_context():
        emails = set(db.session.scalars(sa.select(User.email).where(User.email.like("%@example.com"))))
        kiran = db.session.scalar(sa.select(User).where(User.email == "kiran.batch@example.com"))
        assert {"kiran.batch@example.com", "lata.other@example.com"} <= emails
        assert check_password(kiran.password_hash, "kiran-first-pass")
        assert db.session.scalar(sa.select(User).where(User.name == "Broken Row")) is None

    # A batch with Kiran in it.
    page.goto(f"{url}/admin/batches/")
    page.get_by_label("Batch name").fill("Evening 2027")
    page.get_by_role("button", name="Create batch").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/batches/\d+$"))
    page.get_by_label("Emails, one a line").fill("kiran.batch@example.com")
    page.get_by_role("button", name=re.compile("Add")).click()
    page.wait_for_selector("text=Added 1 person")

    # An exam for that batch, published from the list.
    page.goto(f"{url}/admin/exams/new")
    page.get_by_label("Title", exact=True).fill("Evening Mock")
    page.get_by_label("Testpress exam URL").fill(f"{sandbox[1]}/exams/run/physics-mock-1/start/")
    page.get_by_label("Evening 2027").check()
    page.get_by_role("button", name="Save exam").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/admin/exams/\d+$"))
    page.goto(f"{url}/admin/exams/")
    page.get_by_role("button", name="Publish Evening Mock").click()
    page.wait_for_selector("text=Unpublish")
    staff.close()

    # Kiran sees it and starts it; Lata, in no batch, sees no such exam.
    for email, password, sees in (("kiran.batch@example.com", "kiran-first-pass", True),
                                  ("lata.other@example.com", "lata-first-pass", False)):
        context = browser.new_context()
        student = context.new_page()
        student.set_default_timeout(15_000)
        log_in(student, url, email, password)
        student.wait_for_url(f"{url}/exams/")
        assert ("Evening Mock" in student.content()) is sees, email
        if sees:
            student.locator('article.exam-card:has-text("Evening Mock") button').click()
            student.wait_for_url(re.compile(r"//localhost:\d+/exams/take/"))
        context.close()
