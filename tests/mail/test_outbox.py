"""The outbox against a real SMTP server (aiosmtpd on a free port): delivered once, retried
with back-off while the server is down or slow, given up as a failure staff see, queued in
its cause's transaction, and never a secret in a log line."""

import logging
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.mail import outbox
from portal.mail.messages import Letter, letter
from portal.models import OutboxMessage, User
from portal.people.accounts import create_person
from portal.vocabulary import MailKind, MailStatus


def queue_test(to="asha@example.com", key="test:1"):
    message = outbox.queue(MailKind.TEST, letter("test", "Test message"), to=to, key=key)
    db.session.commit()
    return message


def messages():
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_a_queued_message_is_delivered_once_with_both_parts(mail_app, mail_catcher):
    queue_test("asha@example.com", "test:1")
    queue_test("ravi@example.com", "test:2")

    assert outbox.send_due().sent == 2
    assert outbox.send_due().sent == 0

    assert sorted(message["To"] for message in mail_catcher.received) == ["asha@example.com", "ravi@example.com"]
    received = mail_catcher.received[0]
    assert received["From"] == "Test Institute <portal@institute.example>"
    assert received["Subject"] == "Exam portal: Test message"
    assert "the portal's email settings work" in received.get_body(("plain",)).get_content()
    assert "<p>" in received.get_body(("html",)).get_content()
    db.session.expire_all()
    rows = messages()
    assert [row.status for row in rows] == ["sent", "sent"]
    assert {row.message_id for row in rows} == {message["Message-ID"] for message in mail_catcher.received}
    assert all(row.body_text is None and row.body_html is None for row in rows)  # a link's token goes with it


def test_the_same_cause_queues_one_message(mail_app, mail_catcher):
    assert queue_test(key="test:same") is not None
    assert queue_test(key="test:same") is None
    outbox.send_due()
    assert len(mail_catcher.received) == 1


def test_server_down_then_up_delivers_each_message_once(mail_app, mail_catcher):
    mail_catcher.stop()
    for number in range(3):
        queue_test(f"student{number}@example.com", f"test:{number}")
    now = utcnow()

    summary = outbox.send_due(now)
    assert (summary.sent, summary.retrying, summary.failed) == (0, 3, 0)
    db.session.expire_all()
    assert all("connection refused" in row.last_error and row.status == "queued" for row in messages())

    mail_catcher.start()
    assert outbox.send_due(now + timedelta(seconds=30)).sent == 0  # backing off: not due yet
    assert outbox.send_due(now + timedelta(minutes=2)).sent == 3
    assert outbox.send_due(now + timedelta(hours=3)).sent == 0
    assert sorted(message["To"] for message in mail_catcher.received) == [
        "student0@example.com", "student1@example.com", "student2@example.com"]
    db.session.expire_all()
    assert [(row.status, row.tries) for row in messages()] == [("sent", 2)] * 3


def test_a_refused_recipient_fails_with_the_servers_answer_and_the_others_go(mail_app, mail_catcher):
    mail_catcher.refused.add("gone@example.com")
    queue_test("gone@example.com", "test:gone")
    queue_test("asha@example.com", "test:asha")

    summary = outbox.send_due()

    assert (summary.sent, summary.failed) == (1, 1)
    assert [message["To"] for message in mail_catcher.received] == ["asha@example.com"]
    db.session.expire_all()
    gone = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.to_address == "gone@example.com"))
    assert gone.status == MailStatus.FAILED and gone.failed_at is not None
    assert gone.last_error == "550 5.1.1 No such user here"
    assert gone.body_text  # kept, to be retried once the address is fixed


def test_a_timeout_is_retried_with_the_same_message_id(make_app, mail_catcher):
    app = make_app(**{**mail_catcher.settings, "MAIL_TIMEOUT": 1})
    mail_catcher.delay = 2
    with app.app_context():
        queue_test()
        now = utcnow()
        assert outbox.send_due(now).retrying == 1
        row = messages()[0]
        assert row.status == "queued" and "timed out" in row.last_error

        mail_catcher.delay = 0
        time.sleep(1.5)  # the slow server may have kept the first copy: the one duplicate allowed
        assert outbox.send_due(now + timedelta(minutes=2)).sent == 1
        assert 1 <= len(mail_catcher.received) <= 2
        assert {message["Message-ID"] for message in mail_catcher.received} == {row.message_id}


def test_a_message_not_sent_in_time_is_given_up_as_a_failure(mail_app, mail_catcher):
    mail_catcher.stop()
    queue_test()
    now = utcnow()
    outbox.send_due(now)
    summary = outbox.send_due(now + timedelta(hours=25))
    assert summary.failed == 1
    db.session.expire_all()
    row = messages()[0]
    assert row.status == MailStatus.FAILED and "connection refused" in row.last_error


def test_a_message_is_queued_in_its_causes_transaction(mail_app, mail_catcher):
    with pytest.raises(DomainError), write_transaction():
        person = create_person("new@example.com", "New Student", "", by=None)
        db.session.flush()
        outbox.queue(MailKind.TEST, letter("test", "Welcome"), to=person.email, key="test:new", recipient=person)
        raise DomainError(None, "the cause fails after queueing")
    assert messages() == [] and db.session.scalar(sa.select(sa.func.count(User.id))) == 0

    outbox.send_due()
    assert mail_catcher.received == []


def test_an_address_is_checked_before_it_is_queued(mail_app):
    with pytest.raises(DomainError) as refused:
        outbox.queue(MailKind.TEST, letter("test", "Test message"), to="asha at example", key="test:bad")
    assert refused.value.field == "email"
    db.session.commit()
    assert messages() == []


def test_without_a_mail_server_nothing_is_queued_nor_sent(app):
    assert outbox.queue(MailKind.TEST, letter("test", "Test message"), to="asha@example.com", key="t:1") is None
    db.session.commit()
    assert messages() == []
    assert outbox.send_due().sent == 0


def test_nothing_is_sent_with_changes_pending_in_the_session(mail_app):
    queue_test()
    db.session.add(User(email="x@example.com", name="X", password_hash="-"))
    with pytest.raises(RuntimeError):
        outbox.send_due()


def test_no_secret_in_any_log_line(make_app, mail_catcher, caplog):
    mail_catcher.require_login("portal", "smtp-pa55-word")
    app = make_app(**{**mail_catcher.settings, "MAIL_PASSWORD": "wrong-pa55-word"})
    token = "link-token-0123456789abcdef"
    with caplog.at_level(logging.DEBUG), app.app_context():
        outbox.queue(MailKind.SIGN_IN_LINK, Letter("Your sign-in link", f"https://portal/p/{token}", ""),
                     to="asha@example.com", key="sign_in_link:1")
        db.session.commit()
        now = utcnow()
        outbox.send_due(now)
        assert "login as portal refused: 535" in messages()[0].last_error
        app.config["MAIL_PASSWORD"] = "smtp-pa55-word"
        assert outbox.send_due(now + timedelta(minutes=2)).sent == 1
    assert token in mail_catcher.received[0].get_content()
    portal_lines = [record.getMessage() for record in caplog.records if record.name != "mail.log"]
    assert any("Email 1 (sign_in_link) sent" in line for line in portal_lines)
    assert not [line for line in portal_lines if "pa55" in line or token in line]
