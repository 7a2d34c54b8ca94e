"""A local mail catcher for the demo: an SMTP server (aiosmtpd) keeping the messages the
portal sends, and pages showing them (/sandbox/mail/), so that a newcomer running
`make run` sees a sign-in link arrive and can open it. Messages live in memory only.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy

from flask import Blueprint, Flask, abort, current_app, render_template
from markupsafe import Markup, escape

EXTENSION = "testpress_sandbox_mailbox"
KEPT = 200  # the newest messages kept; older ones are dropped
LINK = re.compile(r"https?://[^\s<>\"']+")

bp = Blueprint("mailbox", __name__, url_prefix="/sandbox/mail")


@dataclass(frozen=True)
class Received:
    number: int
    at: datetime
    sender: str
    to: str
    subject: str
    text: str


class Mailbox:
    """The messages received, newest first, shared by the SMTP thread and the pages."""

    def __init__(self):
        self._messages: deque[Received] = deque(maxlen=KEPT)
        self._lock = threading.Lock()
        self._count = 0
        self._controller = None

    def add(self, raw: bytes) -> None:
        message = message_from_bytes(raw, policy=policy.default)
        body = message.get_body(("plain",)) or message.get_body(("html",))
        with self._lock:
            self._count += 1
            self._messages.appendleft(Received(self._count, datetime.now(UTC), str(message["From"] or ""),
                                               str(message["To"] or ""), str(message["Subject"] or ""),
                                               body.get_content() if body is not None else ""))

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def start_smtp(self, host: str, port: int) -> None:
        """Listen for SMTP on (host, port), a port that is free (aiosmtpd cannot pick one)."""
        from aiosmtpd.controller import Controller

        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mailbox.add(envelope.original_content)
                return "250 Message accepted"

        self._controller = Controller(Handler(), hostname=host, port=port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def mailbox(app: Flask | None = None) -> Mailbox:
    return (app or current_app).extensions[EXTENSION]


def linked(text: str) -> Markup:
    """The text, escaped, with its web addresses as links (the sign-in link, to open it)."""
    parts, last = [], 0
    for match in LINK.finditer(text):
        parts += [escape(text[last:match.start()]), Markup('<a href="{0}">{0}</a>').format(match.group())]
        last = match.end()
    return Markup("").join([*parts, escape(text[last:])])


@bp.get("/")
def messages():
    """The messages received, newest first."""
    return render_template("admin/mail.html", messages=mailbox().messages())


@bp.get("/<int:number>")
def message(number: int):
    """One message, its plain text with the links clickable; 404 if not (or no longer) kept."""
    found = next((one for one in mailbox().messages() if one.number == number), None)
    if found is None:
        abort(404)
    return render_template("admin/mail_message.html", message=found, body=linked(found.text))
