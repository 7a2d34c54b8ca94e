"""The audit log: every staff action that changes data, with who, what, when, before and after.

`record` adds the entry to the session, so it commits (or rolls back) with the change it
describes: an entry never outlives a change undone, nor a change its entry. The caller
passes only what may be shown to any staff member: never a password, hash or token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime

from portal.core.extensions import db
from portal.models import AuditEntry, User

MAX_SUMMARY_LENGTH = AuditEntry.__table__.c.summary.type.length


def record(actor: User | None, action: str, target_type: str, target_id: int | None, summary: str,
           *, before: Mapping | None = None, after: Mapping | None = None) -> AuditEntry:
    """Add an audit entry (the caller commits). `before`/`after` are the changed fields' values."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action, target_type=target_type, target_id=target_id,
        summary=summary[:MAX_SUMMARY_LENGTH],
        before=_json(before), after=_json(after),
    )
    db.session.add(entry)
    return entry


def changes(before: Mapping, after: Mapping) -> tuple[dict, dict]:
    """Only the fields whose value differs, as (before, after)."""
    changed = [name for name in after if before.get(name) != after[name]]
    return {name: before.get(name) for name in changed}, {name: after[name] for name in changed}


def _json(values: Mapping | None) -> str | None:
    # default=str: times and enums are written as they read; a time as stored, naive UTC
    # ("2026-12-05 04:30:00"), which `recorded_time` reads back for the log to show in the
    # institute's zone (converted when shown, so that the entry keeps what the database held).
    return None if values is None else json.dumps(values, default=str, ensure_ascii=False, sort_keys=True)


def fingerprint(values: Mapping) -> str:
    """A digest of values as the log writes them: a form carries the one of what it showed,
    so that a save over a change someone made since is caught instead of undoing it."""
    return hashlib.sha256(_json(values).encode()).hexdigest()[:32]


RECORDED_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?")


def recorded_time(value) -> datetime | None:
    """The naive-UTC time a before/after value holds if it is one `_json` wrote, else None."""
    if not isinstance(value, str) or not RECORDED_TIME.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # the shape of a time but none (month 13)
        return None
