"""The SMTP transport over the standard library's smtplib: one connection, many messages.

Every failure becomes a `SendFailure` saying whether trying again may help (the server down,
busy, timing out, refusing the login) or not (a 5xx refusal of this recipient or message),
in words for staff. No exception text here carries the password: smtplib never puts it there.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str
    password: str
    sender: str
    timeout: float

    @classmethod
    def from_config(cls, config) -> MailSettings | None:
        """The settings, or None when no MAIL_SERVER is set (mail is then off)."""
        if not config.get("MAIL_SERVER"):
            return None
        return cls(server=config["MAIL_SERVER"], port=int(config["MAIL_PORT"]), use_tls=bool(config["MAIL_USE_TLS"]),
                   use_ssl=bool(config["MAIL_USE_SSL"]), username=config["MAIL_USERNAME"] or "",
                   password=config["MAIL_PASSWORD"] or "", sender=config["MAIL_DEFAULT_SENDER"] or "",
                   timeout=float(config["MAIL_TIMEOUT"]))

    @property
    def sender_domain(self) -> str:
        address = parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or "portal.invalid"


class SendFailure(Exception):
    """A message not sent. `permanent`: the server refused it for good (a 5xx answer), and
    sending it again would be refused again; otherwise a retry may succeed. `stage` says what
    failed: connect, tls, login, send."""

    def __init__(self, stage: str, answer: str, *, permanent: bool = False):
        super().__init__(answer)
        self.stage = stage
        self.answer = answer
        self.permanent = permanent


STAGE_WORDS = {"connect": "could not connect to", "tls": "could not start TLS with",
               "login": "could not log in to", "send": "refused the message at"}


class SmtpConnection:
    """An open, logged-in connection; `send` one message at a time, then `close`."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._smtp = _connect(settings)

    def send(self, message: EmailMessage) -> None:
        """Raises SendFailure; a connection-level one (the server gone, a timeout) leaves this
        connection unusable, and the caller opens another."""
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            code, answer = next(iter(refused.recipients.values()))
            raise SendFailure("send", _answer(code, answer), permanent=code >= 500) from None
        except smtplib.SMTPResponseException as error:
            raise SendFailure("send", _answer(error.smtp_code, error.smtp_error), permanent=error.smtp_code >= 500) \
                from None
        except (OSError, smtplib.SMTPException) as error:
            # Timed out or cut off mid-message: whether the server kept it is unknown.
            raise SendFailure("send", _what(error)) from None

    def close(self) -> None:
        try:
            self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            self._smtp.close()


def _connect(settings: MailSettings) -> smtplib.SMTP:
    where = f"{settings.server}:{settings.port}"
    context = tls_context()
    try:
        if settings.use_ssl:
            smtp = smtplib.SMTP_SSL(settings.server, settings.port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout)
    except ssl.SSLError as error:
        raise SendFailure("tls", f"{where}: TLS failed ({error.reason or error})") from None
    except (OSError, smtplib.SMTPException) as error:
        raise SendFailure("connect", f"{where}: {_what(error)}") from None
    try:
        if settings.use_tls:
            try:
                smtp.starttls(context=context)
            except (OSError, smtplib.SMTPException) as error:
                raise SendFailure("tls", f"{where}: STARTTLS failed ({_what(error)})") from None
        if settings.username:
            try:
                smtp.login(settings.username, settings.password)
            except smtplib.SMTPAuthenticationError as error:
                raise SendFailure("login", f"{where}: login as {settings.username} refused: "
                                           f"{_answer(error.smtp_code, error.smtp_error)}") from None
            except (OSError, smtplib.SMTPException) as error:
                raise SendFailure("login", f"{where}: login as {settings.username} failed: {_what(error)}") from None
    except SendFailure:
        smtp.close()
        raise
    return smtp


def tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, the server's name checked: never unverified TLS."""
    return ssl.create_default_context()


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}".strip()


def _what(error: Exception) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):  # smtplib words a timeout mid-reply itself
        return "timed out waiting for the server's answer (MAIL_TIMEOUT)"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the mail server running, on this port?)"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    return str(error) or type(error).__name__
