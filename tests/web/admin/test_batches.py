"""Batches: the staff pages (list, create, rename, archive, members) and their audit entries."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import AuditEntry, Batch, batch_members
from portal.people.batches import add_members, add_members_by_email, create_batch, new_batch
from tests.factories import make_exam, make_staff, make_user
from tests.web.student.test_student import page_text


@pytest.fixture
def staff(client, auth):
    person = make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return person


def batch_named(name: str) -> Batch:
    db.session.expire_all()
    return db.session.scalar(sa.select(Batch).where(Batch.name == name))


def member_ids(batch: Batch) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(batch_members.c.user_id).where(batch_members.c.batch_id == batch.id)))


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_the_list_shows_each_batch_with_its_member_and_exam_counts(client, staff):
    morning, evening = create_batch("Morning", by=None), create_batch("Evening", by=None)
    add_members(morning, [make_user(), make_user()])
    make_exam("Mock", batches=[morning, evening])
    make_exam("Other", batches=[morning])
    evening.archived_at = sa.func.now()
    db.session.commit()

    text = page_text(client.get("/admin/batches/"))

    assert "Morning 2 2 In use" in text
    assert "Evening 0 1 Archived" in text
    assert text.index("Morning") < text.index("Evening 0")  # archived ones last


def test_staff_create_a_batch_and_it_is_audited(client, staff):
    response = client.post("/admin/batches/new", data={"name": "  Morning   batch "})

    batch = batch_named("Morning batch")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/batches/{batch.id}"
    [entry] = audit_entries("batch.create")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (staff.id, "batch", batch.id)
    assert json.loads(entry.after) == {"name": "Morning batch"}


@pytest.mark.parametrize("name, message", [("", "This field is required."), ("morning", "already exists"),
                                           ("élite MORNING", "already exists")])  # whatever the case, any letter
def test_a_bad_or_taken_name_is_refused_and_nothing_is_written(client, staff, name, message):
    new_batch("Élite Morning" if "élite" in name else "Morning")  # unaudited: the test counts batch.create
    db.session.commit()

    response = client.post("/admin/batches/new", data={"name": name})

    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Batch.id))) == 1
    assert audit_entries("batch.create") == []


def test_staff_rename_a_batch(client, staff):
    batch = create_batch("Morning", by=None)
    create_batch("Evening", by=None)
    db.session.commit()

    taken = client.post(f"/admin/batches/{batch.id}/rename", data={"name": "EVENING"})
    renamed = client.post(f"/admin/batches/{batch.id}/rename", data={"name": "Morning 2027"})

    assert taken.status_code == 422 and "already exists" in taken.get_data(as_text=True)
    assert renamed.status_code == 302
    assert batch_named("Morning 2027") is not None
    [entry] = audit_entries("batch.rename")
    assert (json.loads(entry.before), json.loads(entry.after)) == ({"name": "Morning"}, {"name": "Morning 2027"})


def test_staff_archive_and_unarchive_a_batch_which_then_leaves_the_exam_form(client, staff):
    batch = create_batch("Morning", by=None)
    db.session.commit()

    client.post(f"/admin/batches/{batch.id}/archive", data={"archived": "1"})
    archived_form = client.get("/admin/exams/new").get_data(as_text=True)
    client.post(f"/admin/batches/{batch.id}/archive", data={"archived": "0"})

    assert 'name="batches"' not in archived_form and "No batches in use" in archived_form
    assert batch_named("Morning").archived_at is None
    assert f'name="batches" type="checkbox" value="{batch.id}"' in client.get("/admin/exams/new").get_data(as_text=True)
    assert [entry.action for entry in audit_entries("batch.archive") + audit_entries("batch.unarchive")] == \
        ["batch.archive", "batch.unarchive"]


def test_the_batch_page_lists_its_members_with_links_to_their_pages(client, staff):
    batch = create_batch("Morning", by=None)
    asha, ravi = make_user("asha@example.com", "Asha Rao"), make_user("ravi@example.com", "Ravi Kumar")
    make_user("other@example.com", "Not In It")
    add_members(batch, [asha, ravi])
    db.session.commit()

    response = client.get(f"/admin/batches/{batch.id}")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "2 members." in page_text(response)
    assert f'href="/admin/people/{asha.id}">Asha Rao</a>' in html and "ravi@example.com" in html
    assert "Not In It" not in html
    assert page_text(response).index("Asha Rao") < page_text(response).index("Ravi Kumar")


def test_the_members_are_paginated(client, staff):
    batch = create_batch("Big", by=None)
    add_members(batch, [make_user(f"p{n:03}@example.com", f"Person {n:03}") for n in range(55)])
    db.session.commit()

    first = page_text(client.get(f"/admin/batches/{batch.id}"))
    second = page_text(client.get(f"/admin/batches/{batch.id}?page=2"))

    assert "Person 000" in first and "Person 049" in first and "Person 050" not in first
    assert "Person 050" in second and "Person 054" in second and "Page 2 of 2" in second


def test_pasted_emails_are_added_and_unknown_ones_listed_back(client, staff):
    batch = create_batch("Morning", by=None)
    asha, ravi = make_user("asha@example.com"), make_user("ravi@example.com")
    add_members(batch, [ravi])
    db.session.commit()

    response = client.post(f"/admin/batches/{batch.id}/members", follow_redirects=True, data={
        "emails": " Asha@Example.com \n\nravi@example.com\nnobody@example.com\nnot-an-email\nasha@example.com"})
    text = page_text(response)

    assert "Added 1 person to “Morning”; 1 already in it." in text
    assert "Nobody has these emails, so they were not added: nobody@example.com, not-an-email." in text
    assert member_ids(batch) == {asha.id, ravi.id}
    [entry] = audit_entries("batch.add_members")
    assert json.loads(entry.after) == {"added": ["asha@example.com"]}


@pytest.mark.parametrize("pasted", [
    "Asha Rao <asha@example.com>; Ravi Kumar <ravi@example.com>; Nobody <nobody@example.com>",  # Outlook
    "Rao, Asha <asha@example.com>; Kumar, Ravi <RAVI@example.com>; nobody@example.com",  # Outlook, last name first
    '"Asha Rao" <asha@example.com>, Ravi Kumar <ravi@example.com>, nobody@example.com',  # Gmail
    "asha@example.com ravi@example.com, nobody@example.com",  # typed: spaces and commas
    "asha@example.com;ravi@example.com\r\nnobody@example.com",  # semicolons, Windows lines
])
def test_a_mail_clients_list_or_a_bare_one_adds_its_people(client, staff, pasted):
    batch = create_batch("Morning", by=None)
    asha, ravi = make_user("asha@example.com", "Asha Rao"), make_user("ravi@example.com", "Ravi Kumar")
    db.session.commit()

    response = client.post(f"/admin/batches/{batch.id}/members", follow_redirects=True, data={"emails": pasted})
    text = page_text(response)

    assert "Added 2 people to “Morning”." in text
    assert "Nobody has this email, so it was not added: nobody@example.com." in text
    assert member_ids(batch) == {asha.id, ravi.id}
    assert "Asha Rao" in text and "Ravi Kumar" in text  # listed among the members


def test_pasting_nothing_is_refused(client, staff):
    batch = create_batch("Morning", by=None)
    db.session.commit()

    response = client.post(f"/admin/batches/{batch.id}/members", data={"emails": " \n "})

    assert response.status_code == 422 and "This field is required." in response.get_data(as_text=True)


def test_a_long_pasted_list_is_added_in_a_few_statements(app):
    batch = create_batch("Everyone", by=None)
    people = [make_user(f"bulk{n}@example.com") for n in range(150)]
    db.session.commit()

    outcome = add_members_by_email(batch, "\n".join(person.email for person in people), by=None)
    db.session.commit()

    assert len(outcome.added) == 150 and outcome.unknown == []
    assert member_ids(batch) == {person.id for person in people}


def test_staff_remove_one_member(client, staff):
    batch = create_batch("Morning", by=None)
    asha, ravi = make_user("asha@example.com"), make_user("ravi@example.com")
    add_members(batch, [asha, ravi])
    db.session.commit()

    response = client.post(f"/admin/batches/{batch.id}/members/{asha.id}/remove", follow_redirects=True)

    assert "Removed asha@example.com from “Morning”." in page_text(response)
    assert member_ids(batch) == {ravi.id}
    [entry] = audit_entries("batch.remove_member")
    assert json.loads(entry.before) == {"member": "asha@example.com"}


def test_pressing_archive_twice_leaves_the_batch_archived(client, staff):
    import re
    batch = create_batch("Morning", by=None)
    db.session.commit()
    page = client.get(f"/admin/batches/{batch.id}").get_data(as_text=True)
    wanted = re.search(r'name="archived" value="(\d)"', page).group(1)  # what the Archive button sends
    assert wanted == "1"

    client.post(f"/admin/batches/{batch.id}/archive", data={"archived": wanted})
    archived_at = batch_named("Morning").archived_at
    again = client.post(f"/admin/batches/{batch.id}/archive", data={"archived": wanted}, follow_redirects=True)

    assert archived_at is not None and batch_named("Morning").archived_at == archived_at
    assert "“Morning” is already archived." in page_text(again)
    assert len(audit_entries("batch.archive")) == 1 and audit_entries("batch.unarchive") == []


@pytest.mark.parametrize("sent", [{}, {"archived": "true"}])
def test_archive_without_the_state_wanted_is_a_400_that_changes_nothing(client, staff, sent):
    batch = create_batch("Morning", by=None)
    db.session.commit()
    assert client.post(f"/admin/batches/{batch.id}/archive", data=sent).status_code == 400
    assert batch_named("Morning").archived_at is None and audit_entries("batch.archive") == []


@pytest.mark.parametrize("method, path", [("GET", "/admin/batches/999"), ("POST", "/admin/batches/999/rename"),
                                          ("POST", "/admin/batches/999/archive"),
                                          ("POST", "/admin/batches/999/members")])
def test_an_unknown_batch_is_404(client, staff, method, path):
    assert client.open(path, method=method, data={"name": "x", "emails": "a@example.com"}).status_code == 404


def test_the_buttons_need_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_staff("boss@example.com")
        batch_id = create_batch("Morning", by=None).id
        db.session.commit()
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple",
                                "csrf_token": token})

    for path in (f"/admin/batches/{batch_id}/archive", "/admin/batches/new", f"/admin/batches/{batch_id}/members"):
        assert client.post(path, data={"name": "Evening", "emails": "a@example.com", "archived": "1"}
                           ).status_code == 400, path
    with app.app_context():
        assert db.session.get(Batch, batch_id).archived_at is None
        assert db.session.scalar(sa.select(sa.func.count(Batch.id))) == 1
