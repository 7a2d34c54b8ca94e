"""The staff's exam pages: the list with its publish buttons, an exam's page, the form with
the rules, archiving and deleting, and their audit entries."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import AuditEntry, Exam
from portal.people.batches import create_batch
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user
from tests.web.student.test_student import page_text

URL = "https://inst.testpress.in/exams/run/physics/start/"


@pytest.fixture
def staff(client, auth):
    person = make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return person


def stored(exam_id: int) -> Exam | None:
    db.session.expire_all()
    return db.session.get(Exam, exam_id)


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def row_of(response, title: str) -> str:
    html = response.get_data(as_text=True)
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f">{title}</a>" in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row for {title!r}")


def test_the_list_shows_state_batches_attempts_and_one_publish_button_per_row(client, staff):
    now = utcnow()
    morning = create_batch("Morning", by=None)
    draft = make_exam("Draft mock", published=False)
    make_exam("Open mock", batches=[morning])
    make_exam("Future mock", opens_at=now + timedelta(days=1))
    closed = make_exam("Closed mock", closes_at=now - timedelta(days=1))
    make_attempt(make_user(), closed)
    make_attempt(make_user(), closed)

    response = client.get("/admin/exams/")
    html = response.get_data(as_text=True)

    assert row_of(response, "Draft mock").startswith("Draft mock Draft Open Everyone")
    assert "Publish" in row_of(response, "Draft mock") and "Unpublish" not in row_of(response, "Draft mock")
    assert "Published Open Morning" in row_of(response, "Open mock")
    assert "Published Upcoming Everyone" in row_of(response, "Future mock")
    assert ("Published Closed Everyone" in row_of(response, "Closed mock")
            and " 2 Unpublish" in row_of(response, "Closed mock"))
    assert f'action="/admin/exams/{draft.id}/publish"' in html
    assert html.count('name="published" value=') == 4


def test_the_publish_button_publishes_and_unpublishes_with_an_audit_entry(client, staff):
    exam = make_exam("Mock", published=False)

    published = client.post(f"/admin/exams/{exam.id}/publish", data={"published": "1", "back": "list"})
    assert published.headers["Location"] == "/admin/exams/" and stored(exam.id).published
    again = client.post(f"/admin/exams/{exam.id}/publish", data={"published": "1"}, follow_redirects=True)
    assert "already published" in page_text(again)
    client.post(f"/admin/exams/{exam.id}/publish", data={"published": "0"})

    assert not stored(exam.id).published
    [on], [off] = audit_entries("exam.publish"), audit_entries("exam.unpublish")
    assert (on.actor_id, on.target_id, json.loads(on.after)) == (staff.id, exam.id, {"published": True})
    assert json.loads(off.after) == {"published": False}


def test_publishing_without_a_url_or_a_published_value_is_refused(client, staff):
    exam = make_exam("Imported", published=False)
    exam.exam_url = ""
    db.session.commit()

    refused = client.post(f"/admin/exams/{exam.id}/publish", data={"published": "1"}, follow_redirects=True)
    bad = client.post(f"/admin/exams/{exam.id}/publish", data={"published": "yes"})

    assert "“Imported” was not published: paste the exam's URL from Testpress before publishing it." \
        in unescape(page_text(refused))
    assert bad.status_code == 400
    assert not stored(exam.id).published and audit_entries("exam.publish") == []


def test_the_exam_page_shows_details_rules_batches_and_its_attempts(client, staff):
    morning, evening = create_batch("Morning", by=None), create_batch("Evening", by=None)
    exam = make_exam("Mock", exam_url=URL, testpress_id=12, attempts_allowed=2, counting_rule="latest",
                     instructions="90 minutes.", batches=[morning, evening])
    make_attempt(make_user(), exam)

    response = client.get(f"/admin/exams/{exam.id}")
    text = page_text(response)

    assert response.status_code == 200
    assert "Published · open" in text and URL in text and "Testpress exam id 12" in text
    assert "For Evening, Morning" in text
    assert "Attempts allowed 2 per student" in text and "Which attempt counts Latest attempt" in text
    assert "90 minutes." in text
    assert f'href="/admin/attempts/?exam={exam.id}">1 attempt</a>' in response.get_data(as_text=True)
    assert f'href="/admin/exams/{exam.id}/report">Results report</a>' in response.get_data(as_text=True)
    assert ("cannot be deleted: archive it" in text
            and f"/admin/exams/{exam.id}/delete" not in response.get_data(as_text=True))
    assert client.get("/admin/exams/999").status_code == 404


def test_archiving_lists_an_exam_apart_and_restoring_brings_it_back(client, staff):
    exam = make_exam("Old mock")
    make_attempt(make_user(), exam)

    client.post(f"/admin/exams/{exam.id}/archive")
    current, archived = client.get("/admin/exams/"), client.get("/admin/exams/?archived=1")

    assert stored(exam.id).archived_at is not None
    assert ">Old mock</a>" not in current.get_data(as_text=True) and "Archived exams (1)" in page_text(current)
    assert "Old mock Archived" in page_text(archived)
    assert f"/admin/exams/{exam.id}/publish" not in archived.get_data(as_text=True)
    client.post(f"/admin/exams/{exam.id}/archive", data={"archived": "0"})
    assert stored(exam.id).archived_at is None and "Old mock" in page_text(client.get("/admin/exams/"))
    assert [e.action for e in audit_entries("exam.archive") + audit_entries("exam.restore")] == \
        ["exam.archive", "exam.restore"]


def test_an_exam_without_attempts_may_be_deleted_and_one_with_attempts_may_not(client, staff):
    unused, used = make_exam("Unused", batches=[create_batch("Morning", by=None)]), make_exam("Used")
    make_attempt(make_user(), used)
    unused_id, used_id = unused.id, used.id

    deleted = client.post(f"/admin/exams/{unused_id}/delete")
    refused = client.post(f"/admin/exams/{used_id}/delete", follow_redirects=True)

    assert deleted.headers["Location"] == "/admin/exams/" and stored(unused_id) is None
    assert "“Used” was not deleted: this exam has 1 attempt: archive it instead" in page_text(refused)
    assert stored(used_id) is not None
    [entry] = audit_entries("exam.delete")
    assert json.loads(entry.before)["title"] == "Unused" and json.loads(entry.before)["batches"] == ["Morning"]


def test_the_form_saves_the_rules_and_batches_as_a_draft_with_an_audit_entry(client, staff):
    create_batch("Evening", by=None)
    morning = create_batch("Morning", by=None)
    db.session.commit()

    response = client.post("/admin/exams/new", data={
        "title": "Mock", "exam_url": URL, "instructions": "Bring a pencil.", "attempts_allowed": "3",
        "counting_rule": "first", "batches": [str(morning.id)]})

    exam = db.session.scalar(sa.select(Exam).where(Exam.title == "Mock"))
    assert response.headers["Location"] == f"/admin/exams/{exam.id}"
    assert (exam.instructions, exam.attempts_allowed, exam.counting_rule, exam.published) == \
        ("Bring a pencil.", 3, "first", False)
    assert [batch.name for batch in exam.batches] == ["Morning"]
    [entry] = audit_entries("exam.create")
    assert json.loads(entry.after)["batches"] == ["Morning"] and json.loads(entry.after)["attempts_allowed"] == 3


def test_an_edit_records_only_what_changed(client, staff):
    exam = make_exam("Mock", exam_url=URL)

    client.post(f"/admin/exams/{exam.id}/edit", data={"title": "Mock", "exam_url": URL, "attempts_allowed": "",
                                                      "counting_rule": "best", "instructions": "New rules."})

    [entry] = audit_entries("exam.update")
    assert (json.loads(entry.before), json.loads(entry.after)) == ({"instructions": ""}, {"instructions": "New rules."})
    assert stored(exam.id).attempts_allowed is None


def form_values(page: str) -> dict:
    """The values an edit form shows, as a browser would send them back."""
    fields = {name: unescape(value) for name, value in re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page)}
    return {**fields, "counting_rule": "best"}


def test_a_form_opened_before_a_colleagues_save_does_not_undo_it(make_app):
    app = make_app()
    with app.app_context():
        make_staff("a@example.com", name="Staff A"), make_staff("b@example.com", name="Staff B")
        exam, morning = make_exam("Finals", exam_url=URL), create_batch("Morning", by=None)
        db.session.commit()
        exam_id, morning_id = exam.id, morning.id
    a, b = app.test_client(), app.test_client()
    for client, email in ((a, "a@example.com"), (b, "b@example.com")):
        assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    opened = form_values(a.get(f"/admin/exams/{exam_id}/edit").get_data(as_text=True))  # A opens the form

    # B restricts the exam to one batch and one attempt; then A, from the form opened before, fixes the title.
    assert b.post(f"/admin/exams/{exam_id}/edit", data={**form_values(b.get(f"/admin/exams/{exam_id}/edit")
                  .get_data(as_text=True)), "batches": str(morning_id), "attempts_allowed": "1"}).status_code == 302
    refused = a.post(f"/admin/exams/{exam_id}/edit", data={**opened, "title": "Finals 2026"})

    assert refused.status_code == 409
    page = page_text(refused)
    assert "Someone saved a change to “Finals” after you opened this form, so nothing was saved" in page
    assert 'value="Finals 2026"' in refused.get_data(as_text=True)  # A's version is kept in the form
    with app.app_context():
        exam = db.session.get(Exam, exam_id)
        assert (exam.title, exam.attempts_allowed, [batch.id for batch in exam.batches]) == ("Finals", 1, [morning_id])

    # Saving the form again, now knowingly, replaces B's change.
    again = a.post(f"/admin/exams/{exam_id}/edit",
                   data=form_values(refused.get_data(as_text=True)) | {"title": "Finals 2026"})
    assert again.status_code == 302
    with app.app_context():
        assert db.session.get(Exam, exam_id).title == "Finals 2026"


@pytest.mark.parametrize("value", ["0", "1001", "-1", "2.5", "x"])
def test_attempts_allowed_outside_1_to_1000_is_refused_at_its_field(client, staff, value):
    response = client.post("/admin/exams/new", data={"title": "Mock", "exam_url": URL, "attempts_allowed": value,
                                                     "counting_rule": "best"})

    assert response.status_code == 422
    assert "Enter a whole number from 1 to 1000, in digits only." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0


def test_an_unknown_counting_rule_or_batch_is_refused(client, staff):
    rule = client.post("/admin/exams/new", data={"title": "Mock", "exam_url": URL, "counting_rule": "worst"})
    batch = client.post("/admin/exams/new", data={"title": "Mock", "exam_url": URL, "counting_rule": "best",
                                                  "batches": ["999"]})

    assert rule.status_code == 422 and batch.status_code == 422
    assert "Not a valid choice" in rule.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0


def test_times_are_entered_and_shown_in_the_institutes_zone(make_app):
    app = make_app(TIMEZONE="Asia/Kolkata")
    client = app.test_client()
    with app.app_context():
        make_staff("boss@example.com")
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})

    form = client.get("/admin/exams/new").get_data(as_text=True)
    client.post("/admin/exams/new", data={"title": "Mock", "exam_url": URL, "counting_rule": "best",
                                          "opens_at": "2026-12-02T10:00", "closes_at": "2026-12-02T13:30"})

    assert "Opens at (Asia/Kolkata)" in form and "Closes at (Asia/Kolkata)" in form
    with app.app_context():
        exam = db.session.scalar(sa.select(Exam))
        assert (exam.opens_at, exam.closes_at) == (datetime(2026, 12, 2, 4, 30), datetime(2026, 12, 2, 8, 0))
        exam_id = exam.id
    edit = client.get(f"/admin/exams/{exam_id}/edit").get_data(as_text=True)
    assert 'value="2026-12-02T10:00"' in edit and 'value="2026-12-02T13:30"' in edit


@pytest.mark.parametrize("zone, field, typed", [
    ("Asia/Kolkata", "opens_at", "0001-01-01T00:00"),  # east of UTC: before year 1 in UTC
    ("Asia/Kolkata", "closes_at", "0001-01-01T03:00"),
    ("America/New_York", "closes_at", "9999-12-31T23:00"),  # west of UTC: after 9999
])
def test_a_time_utc_would_move_out_of_the_calendar_is_refused_at_its_field(make_app, zone, field, typed):
    app = make_app(TIMEZONE=zone)
    client = app.test_client()
    with app.app_context():
        make_staff("boss@example.com")
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})

    response = client.post("/admin/exams/new", data={"title": "Ancient", "exam_url": URL, "counting_rule": "best",
                                                     field: typed})

    assert response.status_code == 422
    page = unescape(response.get_data(as_text=True))
    assert f"in {zone} is outside the calendar in UTC: choose a time between the years 1 and 9999." in page
    assert page.count("is outside the calendar in UTC") == 1  # said once, at its own field
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0
