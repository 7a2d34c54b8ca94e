"""The outbox: a message is a row written in the same transaction as its cause, and sent after
the commit by the worker (`send_due`), never inside a request's transaction nor holding the
recording lock.

Sending is three steps: claim the due messages with a lease (a short transaction), send them
with no transaction open, then mark each sent, or due again later (backing off), or failed
(in another short transaction). A claimed message's lease keeps any other sender off it; a
sender killed mid-send leaves it to be taken over once the lease runs out. So a message is
never lost, and never sent twice but in one case: the server took it and the answer never
came back (a timeout after the message's data, the process killed before marking it sent).
It is then sent again with the same Message-ID, which the key it was queued with determines.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from portal.core import audit
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.mail.messages import Letter, email_message, message_id
from portal.mail.transport import MailSettings, SendFailure, SmtpConnection
from portal.models import OutboxMessage, User
from portal.vocabulary import MailKind, MailStatus

log = logging.getLogger(__name__)

BATCH = 20  # messages claimed at once, sent over one connection
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
MAX_ERROR_LENGTH = OutboxMessage.__table__.c.last_error.type.length


def mail_settings() -> MailSettings | None:
    """The SMTP settings, or None when no MAIL_SERVER is set: nothing is then queued or sent."""
    return MailSettings.from_config(current_app.config)


def check_address(address: str) -> str:
    """The address, stripped; raises DomainError("email", ...) when it is not an email address."""
    try:
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise DomainError("email", f"“{address}” is not an email address: {error}") from None
    return address.strip()


def queue(kind: MailKind, letter: Letter, *, to: str, key: str, recipient: User | None = None) -> OutboxMessage | None:
    """Add a message to the outbox in the caller's transaction (the caller commits, with what
    caused it). None when mail is off, or when a message with this key is queued already.
    Raises DomainError("email", ...) for an address that is not one: nothing is queued."""
    settings = mail_settings()
    to = check_address(to)
    if settings is None:
        return None
    if db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
        return None
    now = utcnow()
    message = OutboxMessage(idempotency_key=key, message_id=message_id(key, settings), kind=str(kind), to_address=to,
                            recipient_id=recipient.id if recipient is not None else None, subject=letter.subject,
                            body_text=letter.text, body_html=letter.html, status=MailStatus.QUEUED,
                            created_at=now, queued_at=now, next_attempt_at=now)
    db.session.add(message)
    return message


@dataclass
class SendSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"Email: {self.sent} sent, {self.retrying} to retry later, {self.failed} given up."


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    message_id: str
    tries: int
    queued_at: datetime


def send_due(now: datetime | None = None) -> SendSummary:
    """Send every message due at `now` (default: now), batch by batch; what fails is due
    again later or, permanently refused or past MAIL_GIVE_UP_AFTER, failed."""
    summary = SendSummary()
    settings = mail_settings()
    if settings is None:
        return summary
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("send_due() sends after a commit: the session has pending changes")
    session.rollback()  # no transaction stays open while the server is talked to
    now = now or utcnow()
    token = secrets.token_hex(8)
    lease = timedelta(seconds=BATCH * settings.timeout * 2 + 60)  # the longest a batch may take
    while claimed := _claim(now, token, lease):
        _send_batch(claimed, settings, token, now, summary)
    return summary


def _due(now: datetime):
    return (OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.next_attempt_at <= now,
            sa.or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))


def _claim(now: datetime, token: str, lease: timedelta) -> list[_Claimed]:
    ids = list(db.session.scalars(sa.select(OutboxMessage.id).where(*_due(now))
                                  .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(BATCH)))
    if not ids:
        db.session.rollback()
        return []
    # The same conditions again: of two senders that read the same ids, each takes only what
    # the other has not (PostgreSQL re-checks them on a row another transaction just updated).
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id.in_(ids), *_due(now))
                       .values(lease_until=now + lease, claimed_by=token)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    columns = [getattr(OutboxMessage, name) for name in _Claimed.__dataclass_fields__]
    rows = db.session.execute(sa.select(*columns).where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == token)
                              .order_by(OutboxMessage.id)).all()
    db.session.rollback()
    return [_Claimed(*row) for row in rows]


def _send_batch(claimed: list[_Claimed], settings: MailSettings, token: str, now: datetime,
                summary: SendSummary) -> None:
    connection: SmtpConnection | None = None
    unreachable: SendFailure | None = None  # the server could not be reached: the rest wait too
    for message in claimed:
        try:
            if unreachable is not None:
                raise unreachable
            if connection is None:
                try:
                    connection = SmtpConnection(settings)
                except SendFailure as failure:
                    unreachable = failure
                    raise
            connection.send(email_message(to=message.to_address, subject=message.subject, text=message.body_text,
                                          html=message.body_html, message_id=message.message_id, settings=settings))
        except SendFailure as failure:
            if not failure.permanent and connection is not None:
                connection.close()  # timed out or cut off: this connection is done
                connection = None
            _not_sent(message, failure, token, now, summary)
            continue
        _mark(message, token, status=MailStatus.SENT, sent_at=utcnow(), body_text=None, body_html=None,
              last_error=None)
        summary.sent += 1
        log.info("Email %d (%s) sent", message.id, message.kind)
    if connection is not None:
        connection.close()


def _not_sent(message: _Claimed, failure: SendFailure, token: str, now: datetime, summary: SendSummary) -> None:
    tries = message.tries + 1
    give_up_at = message.queued_at + timedelta(seconds=current_app.config["MAIL_GIVE_UP_AFTER"])
    retry_at = now + min(FIRST_RETRY * 2 ** (tries - 1), LONGEST_WAIT)
    error = failure.answer[:MAX_ERROR_LENGTH]
    if failure.permanent or retry_at > give_up_at:
        _mark(message, token, status=MailStatus.FAILED, failed_at=now, last_error=error)
        summary.failed += 1
        log.warning("Email %d (%s) not sent, given up after %d tries: %s", message.id, message.kind, tries, error)
    else:
        _mark(message, token, next_attempt_at=retry_at, last_error=error)
        summary.retrying += 1
        log.warning("Email %d (%s) not sent, trying again at %s UTC: %s", message.id, message.kind,
                    f"{retry_at:%Y-%m-%d %H:%M:%S}", error)


def _mark(message: _Claimed, token: str, **values) -> None:
    """Write the outcome of a try and give the lease up, if this sender still holds it."""
    db.session.execute(sa.update(OutboxMessage)
                       .where(OutboxMessage.id == message.id, OutboxMessage.claimed_by == token)
                       .values(tries=OutboxMessage.tries + 1, lease_until=None, claimed_by=None, **values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def retry(message: OutboxMessage, *, by: User | None) -> None:
    """Queue a failed message again, now, with a fresh MAIL_GIVE_UP_AFTER; audited. The caller
    commits. Raises DomainError for a message that has not failed."""
    if message.status != MailStatus.FAILED:
        raise DomainError("message", "only a message that was not sent can be retried")
    now = utcnow()
    message.status, message.queued_at, message.next_attempt_at, message.failed_at = MailStatus.QUEUED, now, now, None
    audit.record(by, "mail.retry", "mail", message.id, f"Retried the email to {message.to_address}: {message.subject}",
                 before={"status": "failed", "error": message.last_error}, after={"status": "queued"})
