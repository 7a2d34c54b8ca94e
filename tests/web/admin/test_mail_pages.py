"""The staff's email buttons: "Email sign-in links to the N people who have not signed in"
on an import's page and a batch's page, with a preview of the message; none without mail."""

import sqlalchemy as sa

from portal.core.extensions import db
from portal.core.passwords import unusable_password_hash
from portal.mail import outbox
from portal.models import AuditEntry, OutboxMessage, PasswordLink
from portal.people import importing as people_import
from portal.people.batches import create_batch
from tests.factories import make_staff, make_user

PEOPLE = b"email,name\nanu@example.com,Anu\nchitra@example.com,Chitra\n"


def confirmed_import():
    pending = people_import.start_import(PEOPLE, "term.csv", by=None)
    people_import.confirm(pending, by=None)
    db.session.commit()
    return pending.id


def log_in_staff(app):
    make_staff("boss@example.com", name="Boss")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    return client


def test_an_import_page_emails_its_people_their_links_once(mail_app, mail_catcher):
    import_id = confirmed_import()
    client = log_in_staff(mail_app)

    page = client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    assert "Email sign-in links to the 2 people who have not signed in" in page
    assert "Exam portal: choose your password" in page and "Hello Anu," in page  # the preview

    response = client.post(f"/admin/people/import/{import_id}/email-links")
    assert response.status_code == 303 and response.location.endswith(f"/admin/people/import/{import_id}")
    after = client.get(response.location).get_data(as_text=True)
    assert "Sign-in links for 2 people are being emailed" in after
    assert "Email sign-in links to the" not in after
    assert client.post(f"/admin/people/import/{import_id}/email-links").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 2
    # The confirmation's own links (its download) are spent: the emailed ones replace them.
    assert db.session.scalar(sa.select(sa.func.count(PasswordLink.id)).where(PasswordLink.used_at.is_(None))) == 2
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "password_link.email"))
    assert entry.summary == "Emailed one-time password links to 2 people of the import of term.csv"

    outbox.send_due()
    assert sorted(message["To"] for message in mail_catcher.received) == ["anu@example.com", "chitra@example.com"]


def test_a_batch_page_offers_its_members_without_a_password(mail_app):
    batch = create_batch("Morning", by=None)
    waiting, signed_in = make_user("new@example.com", "New Student"), make_user("old@example.com", "Old Student")
    waiting.password_hash = unusable_password_hash()
    batch.members.extend([waiting, signed_in])
    db.session.commit()
    client = log_in_staff(mail_app)

    page = client.get(f"/admin/batches/{batch.id}").get_data(as_text=True)
    assert "Email sign-in links to the 1 person who has not signed in" in page
    assert client.post(f"/admin/batches/{batch.id}/email-links").status_code == 303
    assert db.session.scalar(sa.select(OutboxMessage.to_address)) == "new@example.com"


def test_without_mail_no_button_and_the_post_is_refused_in_words(app):
    import_id = confirmed_import()
    client = log_in_staff(app)
    assert "Email sign-in links" not in client.get(f"/admin/people/import/{import_id}").get_data(as_text=True)
    response = client.post(f"/admin/people/import/{import_id}/email-links", follow_redirects=True)
    assert "Email is not set up (no MAIL_SERVER)" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
