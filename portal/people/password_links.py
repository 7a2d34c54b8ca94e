"""One-time password links: staff hand one to a student who forgot their password or was
imported without one, and the student sets a password there. No email server is needed.

A link holds a random token (256 bits, so it cannot be guessed); the database keeps only its
SHA-256, so a copy of the database opens no account. A link works once and for
LINK_LIFETIME. Issuing a new one for a person spends their older open links: a link is made
again because the last was lost or handed to the wrong person, and it must stop working.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from flask import url_for

from portal.core import audit
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.core.passwords import hash_password
from portal.models import PasswordLink, User
from portal.people.accounts import check_password

LINK_LIFETIME = timedelta(hours=24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(person: User, *, by: User | None) -> str:
    """A new link's token for `person`, which spends their older open links, audited (never
    the token: the entry is shown to every staff member). The caller builds the URL and commits."""
    person.spend_password_links()
    token = secrets.token_urlsafe(32)
    db.session.add(PasswordLink(user_id=person.id, token_hash=token_hash(token),
                                created_by_id=by.id if by else None, expires_at=utcnow() + LINK_LIFETIME))
    audit.record(by, "password_link.issue", "person", person.id, f"Created a one-time password link for {person.email}",
                 after={"expires_in_hours": LINK_LIFETIME.total_seconds() / 3600})
    return token


def issue_links(person_ids: Sequence[int], *, by: User | None, import_id: int | None = None) -> list[str]:
    """New links' tokens for many people at once (in order), in one executemany; the caller
    commits. No audit entry of its own: the CSV import's one entry counts the links it made
    (`import_id`, kept on each link), as the emailing of links does."""
    tokens = [secrets.token_urlsafe(32) for _ in person_ids]
    if tokens:
        created_at, expires_at = utcnow(), utcnow() + LINK_LIFETIME
        db.session.execute(sa.insert(PasswordLink.__table__), [
            {"user_id": person_id, "token_hash": token_hash(token), "created_by_id": by.id if by else None,
             "created_at": created_at, "expires_at": expires_at, "import_id": import_id}
            for person_id, token in zip(person_ids, tokens, strict=True)])
    return tokens


def link_url(token: str) -> str:
    """The address of a link, as handed to its person."""
    return url_for("auth.set_password", token=token, _external=True)


def usable_link(token: str) -> PasswordLink | None:
    """The unused, unexpired link with this token, for an active person; None otherwise."""
    link = db.session.scalar(sa.select(PasswordLink).where(PasswordLink.token_hash == token_hash(token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow() or not link.user.active:
        return None
    return link


def redeem(token: str, password: str) -> User | None:
    """Set the link's person's password and spend the link; None if the link is not usable.

    Raises portal.people.accounts.InvalidPerson for a password too short. The link is spent by a
    conditional UPDATE, so two submissions at once cannot both use it. The caller commits.
    """
    check_password(password)
    link = usable_link(token)
    if link is None:
        return None
    spent = db.session.execute(
        sa.update(PasswordLink).where(PasswordLink.id == link.id, PasswordLink.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    if spent != 1:
        return None
    link.user.set_password(hash_password(password))
    db.session.flush()
    return link.user
