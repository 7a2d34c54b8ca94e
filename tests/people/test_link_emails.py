"""Emailing one-time password links: from `import-people --confirm --email-links`, queued in
the import's own transaction, and the service behind the pages' button."""

import logging
import re

import pytest
import sqlalchemy as sa

from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.passwords import unusable_password_hash
from portal.core.refusals import DomainError
from portal.mail import outbox
from portal.models import OutboxMessage, PasswordLink, User
from portal.people import link_emails
from portal.people.batches import create_batch
from tests.factories import make_user

PEOPLE = "email,name,password\nanu@example.com,Anu,\nchitra@example.com,Chitra,\nravi@example.com,Ravi,longenough1\n"
LINK = re.compile(r"https?://\S+/password/\S+")


def import_file(tmp_path, text=PEOPLE):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8-sig")
    return str(path)


def test_import_people_email_links_queues_a_message_per_person_without_a_password(mail_app, mail_catcher, tmp_path,
                                                                                   caplog):
    runner = mail_app.test_cli_runner()
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(args=["import-people", import_file(tmp_path), "--confirm", "--email-links",
                                     "--base-url", "https://portal.example"])
        assert result.exit_code == 0, result.output
        assert "One-time password links for 2 people queued to be emailed" in result.output
        assert outbox.send_due().sent == 2

    received = {message["To"]: message for message in mail_catcher.received}
    assert set(received) == {"anu@example.com", "chitra@example.com"}
    text = received["anu@example.com"].get_body(("plain",)).get_content()
    assert "Hello Anu," in text and "The link works once, until" in text
    url = LINK.search(text).group()
    assert url.startswith("https://portal.example/password/")
    assert url in received["anu@example.com"].get_body(("html",)).get_content()
    token = url.rsplit("/", 1)[1]
    # (but the test SMTP server's own, mail.log, which logs what it receives)
    assert not [record for record in caplog.records if record.name != "mail.log" and token in record.getMessage()]

    page = mail_app.test_client().get(url.removeprefix("https://portal.example"))
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    rows = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {row.recipient.email for row in rows} == {"anu@example.com", "chitra@example.com"}


def test_an_import_that_fails_midway_queues_nothing(mail_app, tmp_path, monkeypatch):
    calls = []

    def failing_link_url(token):
        calls.append(token)
        if len(calls) > 1:
            raise RuntimeError("the second message cannot be written")
        return f"https://portal.example/password/{token}"

    monkeypatch.setattr(link_emails, "link_url", failing_link_url)
    result = mail_app.test_cli_runner().invoke(args=["import-people", import_file(tmp_path), "--confirm",
                                                     "--email-links", "--base-url", "https://portal.example"])
    assert result.exit_code != 0
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_email_links_needs_a_mail_server(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["import-people", import_file(tmp_path), "--confirm", "--email-links",
                                                "--base-url", "https://portal.example"])
    assert result.exit_code == 2 and "set MAIL_SERVER" in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_a_batch_emails_only_those_without_a_password_once_and_spends_their_old_links(mail_app):
    batch = create_batch("Morning", by=None)
    waiting = make_user("new@example.com", "New Student")
    waiting.password_hash = unusable_password_hash()
    signed_in = make_user("old@example.com", "Old Student")
    batch.members.extend([waiting, signed_in])
    db.session.add(PasswordLink(user_id=waiting.id, token_hash="0" * 64, expires_at=waiting.created_at.replace(
        year=waiting.created_at.year + 1)))
    db.session.commit()

    offer = link_emails.offer(link_emails.of_batch(batch))
    assert offer.count == 1 and "Hello New Student," in offer.preview.text

    with mail_app.test_request_context(), write_transaction():  # where link_url builds the link
        assert link_emails.email_links(link_emails.of_batch(batch), what="the batch", by=None) == 1
    assert db.session.scalar(sa.select(PasswordLink.used_at).where(PasswordLink.token_hash == "0" * 64)) is not None
    assert link_emails.offer(link_emails.of_batch(batch)).count == 0  # a second press finds nobody
    with pytest.raises(DomainError), write_transaction():
        link_emails.email_links(link_emails.of_batch(batch), what="the batch", by=None)
    assert db.session.scalar(sa.select(OutboxMessage.to_address)) == "new@example.com"
