"""`flask --app portal mail test ADDRESS`: send one message now, outside the outbox, and say
plainly which step failed (the settings, the address, the connection, TLS, the login, the
message), as `flask testpress check` does for Testpress."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app

from portal.core.refusals import DomainError
from portal.mail.messages import email_message, letter, message_id
from portal.mail.outbox import check_address
from portal.mail.transport import MailSettings, SendFailure, SmtpConnection

HINTS = {
    "connect": "check MAIL_SERVER and MAIL_PORT (25; 587 with MAIL_USE_TLS; 465 with MAIL_USE_SSL)",
    "tls": "check MAIL_USE_TLS (STARTTLS, port 587) and MAIL_USE_SSL (port 465) against what the server offers",
    "login": "check MAIL_USERNAME and MAIL_PASSWORD",
    "send": "the server's answer says why; MAIL_DEFAULT_SENDER may have to be an address it sends for",
}
TOPICS = {"connect": "connection", "tls": "TLS", "login": "login", "send": "message"}


@dataclass(frozen=True)
class Step:
    ok: bool
    topic: str
    message: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<8} {self.topic}: {self.message}"


def send_test_message(address: str) -> list[Step]:
    """The steps of sending one test message to `address` now; the last failed, if any did."""
    settings = MailSettings.from_config(current_app.config)
    if settings is None:
        return [Step(False, "settings", "MAIL_SERVER is not set: email is off")]
    if not settings.sender:
        return [Step(False, "settings", "MAIL_DEFAULT_SENDER is not set: messages need a From address")]
    tls = "SSL" if settings.use_ssl else "STARTTLS" if settings.use_tls else "none"
    login = f"as {settings.username}" if settings.username else "none"
    steps = [Step(True, "settings", f"{settings.server}:{settings.port}, TLS {tls}, login {login}, "
                                    f"from {settings.sender}")]
    try:
        address = check_address(address)
    except DomainError as refused:
        return steps + [Step(False, "address", str(refused))]
    try:
        connection = SmtpConnection(settings)
    except SendFailure as failure:
        return steps + [Step(False, TOPICS[failure.stage], f"{failure.answer}; {HINTS[failure.stage]}")]
    steps.append(Step(True, "connection", f"connected{'' if tls == 'none' else ' over ' + tls}"
                                          f"{', logged in' if settings.username else ''}"))
    test = letter("test", "Test message")
    try:
        connection.send(email_message(to=address, subject=test.subject, text=test.text, html=test.html,
                                      message_id=message_id(f"test:{secrets.token_hex(8)}", settings),
                                      settings=settings))
    except SendFailure as failure:
        return steps + [Step(False, "message", f"{failure.answer}; {HINTS['send']}")]
    finally:
        connection.close()
    return steps + [Step(True, "message", f"the server took a test message to {address}")]
