"""Emailing one-time password links to the people who have not signed in yet: those of a CSV
import, or of a batch ("Email sign-in links to the N people who have not signed in").

A person has not signed in while they have no password of their own (imported without one),
and is offered again once the link last emailed to them has expired. Each message is queued
in the same transaction as its new link (portal.mail.outbox), so a link is never made without
its message nor a message without its link; the token is in the message only, never logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from portal.core import audit
from portal.core.bulk import among
from portal.core.clock import to_local, utcnow
from portal.core.extensions import db
from portal.core.passwords import UNUSABLE_PREFIX
from portal.core.refusals import DomainError
from portal.mail import outbox
from portal.mail.messages import Letter, letter
from portal.models import Batch, OutboxMessage, PasswordLink, PeopleImport, User, batch_members
from portal.people.password_links import LINK_LIFETIME, issue_links, link_url, token_hash
from portal.vocabulary import MailKind, MailStatus

SUBJECT = "choose your password"


def _awaiting(people: sa.Select, now: datetime) -> sa.Select:
    """Of `people` (a select of User ids), the active students without a password of their
    own to whom no link was emailed that still works."""
    emailed = (sa.select(OutboxMessage.recipient_id)
               .where(OutboxMessage.kind == MailKind.SIGN_IN_LINK, OutboxMessage.status != MailStatus.FAILED,
                      OutboxMessage.created_at > now - LINK_LIFETIME, OutboxMessage.recipient_id.is_not(None)))
    return (sa.select(User).where(User.id.in_(people), User.active.is_(True), User.is_staff.is_(False),
                                  User.password_hash.startswith(UNUSABLE_PREFIX), User.id.not_in(emailed))
            .order_by(User.name, User.id))


def of_import(people_import: PeopleImport) -> sa.Select:
    return sa.select(PasswordLink.user_id).where(PasswordLink.import_id == people_import.id)


def of_batch(batch: Batch) -> sa.Select:
    return sa.select(batch_members.c.user_id).where(batch_members.c.batch_id == batch.id)


@dataclass(frozen=True)
class Offer:
    """What the button offers: how many people, and the message the first of them would get."""

    count: int
    preview: Letter | None


def offer(people: sa.Select) -> Offer:
    """None to offer when mail is off (the pages then offer links to copy, as before)."""
    if outbox.mail_settings() is None:
        return Offer(0, None)
    query = _awaiting(people, utcnow())
    count = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    first = db.session.scalars(query.limit(1)).first()
    preview = sign_in_letter(first.name, first.email, "(a link of their own, made when the message is queued)") \
        if first else None
    return Offer(count, preview)


def sign_in_letter(name: str, email: str, url: str) -> Letter:
    expires = to_local(utcnow() + LINK_LIFETIME)
    return letter("sign_in_link", SUBJECT, name=name, email=email, url=url, expires=f"{expires:%d %b %Y, %H:%M %Z}")


def queue_link_messages(links: Iterable[tuple[int, str, str, str]]) -> int:
    """Queue a message for each (person id, email, name, token) just issued, in the caller's
    transaction; how many were queued."""
    queued = 0
    for person_id, email, name, token in links:
        message = outbox.queue(MailKind.SIGN_IN_LINK, sign_in_letter(name, email, link_url(token)), to=email,
                               key=f"sign_in_link:{token_hash(token)}")
        if message is not None:
            message.recipient_id = person_id
            queued += 1
    return queued


def email_links(people: sa.Select, *, what: str, by: User | None) -> int:
    """New links, emailed, for the people of `people` who have not signed in; the older open
    links of each are spent. One audit entry naming `what` (the import, the batch). Raises
    DomainError when mail is off or nobody is left to email. The caller commits, under
    write_transaction, so that two presses at once email each person once."""
    if outbox.mail_settings() is None:
        raise DomainError(None, "Email is not set up (no MAIL_SERVER): hand out the links instead.")
    persons = db.session.execute(_awaiting(people, utcnow()).with_only_columns(User.id, User.email, User.name)).all()
    if not persons:
        raise DomainError(None, "Everyone here has signed in, or has a link emailed that still works.")
    ids = [person.id for person in persons]
    db.session.execute(sa.update(PasswordLink).where(among(PasswordLink.user_id, ids), PasswordLink.used_at.is_(None))
                       .values(used_at=utcnow()).execution_options(synchronize_session=False))
    tokens = issue_links(ids, by=by)
    queued = queue_link_messages((person.id, person.email, person.name, token)
                                 for person, token in zip(persons, tokens, strict=True))
    audit.record(by, "password_link.email", "people", None,
                 f"Emailed one-time password links to {queued:,} {'person' if queued == 1 else 'people'} of {what}",
                 after={"emailed": queued, "expires_in_hours": LINK_LIFETIME.total_seconds() / 3600})
    current_app.logger.info("sign-in links: %s queued for %s", queued, what)
    return queued
