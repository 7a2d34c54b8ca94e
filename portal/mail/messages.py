"""What a message says: its plain-text and HTML parts from templates/mail/, and the
EmailMessage sent for an outbox row."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from flask import current_app, render_template

from portal.mail.transport import MailSettings


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str


def letter(template: str, subject: str, **context) -> Letter:
    """templates/mail/<template>.txt and .html rendered with `context` and the institute's name."""
    institute = current_app.config["INSTITUTE_NAME"]
    context = {**context, "institute": institute}
    return Letter(subject=f"{institute}: {subject}", text=render_template(f"mail/{template}.txt", **context),
                  html=render_template(f"mail/{template}.html", **context))


def message_id(idempotency_key: str, settings: MailSettings | None) -> str:
    """A Message-ID that is the same for every try of one message, so that a receiving server
    (and a person's mail program) can tell a retry after an unknown outcome for the same message."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{settings.sender_domain if settings else 'portal.invalid'}>"


def email_message(*, to: str, subject: str, text: str, html: str | None, message_id: str,
                  settings: MailSettings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = formatdate(localtime=False)
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message
