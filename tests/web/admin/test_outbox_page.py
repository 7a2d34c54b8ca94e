"""The staff's outbox page: queued, sent, failed with the server's answer, retried; filters,
and a retry button whose service writes the audit entry."""


import sqlalchemy as sa

from portal.core.extensions import db
from portal.mail import outbox
from portal.mail.messages import letter
from portal.models import AuditEntry, OutboxMessage
from portal.vocabulary import MailKind
from tests.factories import make_staff


def staff(app):
    make_staff("boss@example.com", name="Boss")
    client = app.test_client()
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    return client


def queue(to, key):
    outbox.queue(MailKind.TEST, letter("test", "Test message"), to=to, key=key)
    db.session.commit()


def test_the_outbox_shows_sent_and_failed_with_the_answer_and_retries_a_failure(mail_app, mail_catcher):
    mail_catcher.refused.add("gone@example.com")
    queue("asha@example.com", "t:1")
    queue("gone@example.com", "t:2")
    outbox.send_due()
    client = staff(mail_app)

    page = client.get("/admin/mail/").get_data(as_text=True)
    assert "Sent: 1 · Not sent: 1" in page
    assert "550 5.1.1 No such user here" in page
    assert 'aria-label="Retry the email to gone@example.com"' in page
    assert 'aria-label="Retry the email to asha@example.com"' not in page
    failed_only = client.get("/admin/mail/?status=failed").get_data(as_text=True)
    assert "gone@example.com" in failed_only and "asha@example.com" not in failed_only
    assert "asha@example.com" not in client.get("/admin/mail/?to=gone").get_data(as_text=True)

    gone = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.to_address == "gone@example.com"))
    response = client.post(f"/admin/mail/{gone.id}/retry")
    assert response.status_code == 303 and response.location.endswith("/admin/mail/")
    assert "will be sent again shortly" in client.get("/admin/mail/").get_data(as_text=True)
    db.session.expire_all()
    assert gone.status == "queued"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "mail.retry"))
    assert entry.summary == "Retried the email to gone@example.com: Exam portal: Test message"
    again = client.post(f"/admin/mail/{gone.id}/retry", follow_redirects=True).get_data(as_text=True)
    assert "only a message that was not sent can be retried" in again

    mail_catcher.refused.clear()
    outbox.send_due()
    retried = client.get("/admin/mail/?retried=1").get_data(as_text=True)
    assert "gone@example.com" in retried and "after 2 tries" in retried and "asha@example.com" not in retried


def test_a_message_waiting_to_be_retried_says_when(mail_app, mail_catcher):
    mail_catcher.stop()
    queue("asha@example.com", "t:1")
    outbox.send_due()
    page = staff(mail_app).get("/admin/mail/?status=queued").get_data(as_text=True)
    assert "Waiting: tried 1 time, next" in page and "connection refused" in page


def test_a_filter_that_is_not_one_is_a_400(mail_app):
    client = staff(mail_app)
    assert client.get("/admin/mail/?status=lost").status_code == 400
    assert client.get("/admin/mail/?kind=spam").status_code == 400


def test_without_mail_the_page_says_email_is_off(app):
    assert "Email is off: no MAIL_SERVER is set" in staff(app).get("/admin/mail/").get_data(as_text=True)
