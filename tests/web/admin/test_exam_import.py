"""Import from Testpress: the Admin API's exams listed, marked when linked, linked or created
as drafts; and every way Testpress can fail said on the page, with nothing written."""

from __future__ import annotations

import json
import socket
from html import unescape

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import AuditEntry, Exam
from portal.testpress.client import Page, TestpressError
from portal.web.admin import exam_import
from testpress_sandbox.config import DEFAULTS
from tests.factories import make_exam, make_staff
from tests.web.student.test_student import page_text as tagless_text


def page_text(response) -> str:
    return unescape(tagless_text(response))


def portal_exams() -> list[tuple]:
    db.session.expire_all()
    return [(exam.title, exam.testpress_id, exam.exam_url, exam.published)
            for exam in db.session.scalars(sa.select(Exam).order_by(Exam.id))]


def audit_actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


class FakeClient:
    """The Admin API's exams list, as the client answers it, without a network."""

    def __init__(self, exams: list[dict] | None = None, error: str | None = None):
        self.exams, self.error, self.pages_asked = exams or [], error, []

    def exams_page(self, page: int = 1, *, page_size: int = 25) -> Page:
        self.pages_asked.append(page)
        if self.error:
            raise TestpressError(self.error)
        return Page(count=len(self.exams), results=self.exams[(page - 1) * page_size:page * page_size])


@pytest.fixture
def staff(client, auth):
    make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")


@pytest.fixture
def fake(monkeypatch):
    def install(**options) -> FakeClient:
        client = FakeClient(**options)
        monkeypatch.setattr(exam_import, "testpress_client", lambda: client)
        return client
    return install


# -- against the sandbox's real Admin API ---------------------------------------------------------


@pytest.fixture
def sandbox_app(make_app, live_sandbox):
    app = make_app(TESTPRESS_BASE_URL=live_sandbox.url, TESTPRESS_API_USERNAME=DEFAULTS["API_USERNAME"],
                   TESTPRESS_API_PASSWORD=DEFAULTS["API_PASSWORD"])
    with app.app_context():
        make_staff("boss@example.com")
        yield app
        db.session.remove()


@pytest.fixture
def sandbox_client(sandbox_app):
    client = sandbox_app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    return client


def test_the_page_lists_testpress_exams_and_marks_the_linked_one(sandbox_client, live_sandbox):
    linked = make_exam("Our physics", testpress_id=1)

    response = sandbox_client.get("/admin/exams/import")
    text = page_text(response)

    assert response.status_code == 200
    assert "Testpress id 1" in text and "Testpress id 2" in text and "Testpress id 3" in text
    assert "Linked Our physics" in text
    html = response.get_data(as_text=True)
    assert f'href="/admin/exams/{linked.id}"' in html
    assert 'name="choose" value="1"' not in html and 'name="choose" value="2"' in html
    assert f"{live_sandbox.url}/exams/run/" in text  # the API's start URL, shown


def test_creating_and_linking_chosen_exams_with_audit_entries(sandbox_client, live_sandbox):
    mine = make_exam("Chemistry, made by hand", exam_url="https://inst.example/chem")

    response = sandbox_client.post("/admin/exams/import", data={
        "page": "1", "choose": ["2", "3"], "target-2": "new", "target-3": str(mine.id)})

    assert response.status_code == 302 and response.headers["Location"] == "/admin/exams/import?page=1"
    exams = portal_exams()
    assert exams[0] == ("Chemistry, made by hand", 3, "https://inst.example/chem", True)  # linked, URL kept
    title, testpress_id, url, published = exams[1]
    assert testpress_id == 2 and url.startswith(f"{live_sandbox.url}/exams/run/") and published is False
    assert sorted(audit_actions()) == ["exam.import", "exam.link"]
    after = json.loads(db.session.scalar(sa.select(AuditEntry.after).where(AuditEntry.action == "exam.link")))
    assert after == {"testpress_id": 3}
    page = page_text(sandbox_client.get("/admin/exams/import"))
    assert "Imported from Testpress: created 1 draft exam and linked 1 exam." in page
    assert page.count("Linked") == 2


def test_bad_credentials_are_said_on_the_page(make_app, live_sandbox):
    app = make_app(TESTPRESS_BASE_URL=live_sandbox.url, TESTPRESS_API_USERNAME="admin",
                   TESTPRESS_API_PASSWORD="not-the-password")
    with app.app_context():
        make_staff("boss@example.com")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})

    response = client.get("/admin/exams/import")

    assert response.status_code == 200
    assert "Testpress's exams could not be listed or imported: Testpress refused the API credentials" in \
        page_text(response)
    assert "not-the-password" not in response.get_data(as_text=True)


def test_a_testpress_server_error_is_said_on_the_page_and_nothing_is_imported(sandbox_client, live_sandbox):
    live_sandbox.set_faults(api_fail_next=10)

    listed = sandbox_client.get("/admin/exams/import")
    imported = sandbox_client.post("/admin/exams/import", data={"page": "1", "choose": ["2"], "target-2": "new"})

    assert listed.status_code == 200 and "answered 500" in page_text(listed)
    assert imported.status_code == 502
    assert "answered 500" in page_text(imported) and "Nothing was imported." in page_text(imported)
    assert portal_exams() == [] and audit_actions() == []


def test_testpress_unreachable_is_said_on_the_page(make_app):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(TESTPRESS_BASE_URL=f"http://127.0.0.1:{port}")
    with app.app_context():
        make_staff("boss@example.com")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})

    response = client.get("/admin/exams/import")

    assert response.status_code == 200
    assert f"could not connect to 127.0.0.1:{port}" in page_text(response)


def test_missing_api_settings_are_said_on_the_page(make_app):
    app = make_app(TESTPRESS_API_USERNAME="")
    with app.app_context():
        make_staff("boss@example.com")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})

    response = client.get("/admin/exams/import")

    assert response.status_code == 200
    assert "TESTPRESS_API_USERNAME and TESTPRESS_API_PASSWORD must both be set" in page_text(response)


# -- with a fake client: what the real API may answer ----------------------------------------------


def test_an_exam_without_a_start_url_says_where_to_copy_it_and_is_created_a_draft(client, staff, fake):
    fake(exams=[{"id": 41, "title": "Mock without a URL"}, {"id": 42, "title": "Bad URL", "url": "javascript:x"}])

    page = page_text(client.get("/admin/exams/import"))
    client.post("/admin/exams/import", data={"page": "1", "choose": ["41", "42"]})

    assert page.count("Not given by the API: copy it from the exam's page on your Testpress dashboard") == 2
    assert portal_exams() == [("Mock without a URL", 41, "", False), ("Bad URL", 42, "", False)]
    exam_id = db.session.scalar(sa.select(Exam.id).where(Exam.testpress_id == 41))
    exam_page = page_text(client.get(f"/admin/exams/{exam_id}"))
    assert "Missing: copy it from the exam" in exam_page
    refused = client.post(f"/admin/exams/{exam_id}/publish", data={"published": "1"}, follow_redirects=True)
    assert "before publishing it" in page_text(refused) and portal_exams()[0][3] is False


def test_the_list_is_paginated(client, staff, fake):
    api = fake(exams=[{"id": n, "title": f"Exam {n:02}", "url": f"https://t.example/{n}"} for n in range(1, 31)])

    first = page_text(client.get("/admin/exams/import"))
    second = page_text(client.get("/admin/exams/import?page=2"))

    assert "Exam 01" in first and "Exam 25" in first and "Exam 26" not in first
    assert "Page 1 of 2 (30 exams)" in first
    assert "Exam 26" in second and "Exam 30" in second
    assert api.pages_asked == [1, 2]


def test_a_choice_no_longer_on_the_page_or_already_linked_imports_nothing(client, staff, fake):
    ours_url = make_exam("Ours", testpress_id=7).exam_url
    fake(exams=[{"id": 7, "title": "Theirs", "url": "https://t.example/7"},
                {"id": 8, "title": "Eight", "url": "https://t.example/8"}])

    gone = client.post("/admin/exams/import", data={"page": "1", "choose": ["8", "99"]})
    taken = client.post("/admin/exams/import", data={"page": "1", "choose": ["8", "7"]})

    assert gone.status_code == 422 and "Nothing was imported" in page_text(gone)
    assert taken.status_code == 422 and "already exists" in page_text(taken)
    assert portal_exams() == [("Ours", 7, ours_url, True)]
    assert audit_actions() == []


def test_items_without_a_usable_id_are_skipped_and_counted(client, staff, fake):
    fake(exams=[{"id": "x"}, {"title": "no id"}, {"id": 5, "title": "Five"}])

    text = page_text(client.get("/admin/exams/import"))

    assert "Five" in text and "2 items of this page had no usable Testpress id" in text


def test_nothing_ticked_is_a_message(client, staff, fake):
    fake(exams=[{"id": 5, "title": "Five"}])

    response = client.post("/admin/exams/import", data={"page": "1"}, follow_redirects=True)

    assert "Tick at least one Testpress exam to import." in page_text(response)
    assert portal_exams() == []
