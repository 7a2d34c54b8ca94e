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

# What staff read for each action and kind of target the log records; the codes stay the
# stored values and the filters' (an action missing here is shown as its code).
ACTIONS = {
    "attempt.confirm": "Asked Testpress for an attempt",
    "batch.add_members": "Added people to a batch", "batch.archive": "Archived a batch",
    "batch.create": "Created a batch", "batch.remove_member": "Removed someone from a batch",
    "batch.rename": "Renamed a batch", "batch.unarchive": "Restored a batch",
    "exam.archive": "Archived an exam", "exam.create": "Created an exam", "exam.delete": "Deleted an exam",
    "exam.import": "Imported an exam from Testpress", "exam.link": "Linked an exam to Testpress",
    "exam.publish": "Published an exam", "exam.restore": "Restored an exam", "exam.unpublish": "Unpublished an exam",
    "exam.update": "Edited an exam",
    "flag.accepted": "Accepted the signed score of a flagged attempt",
    "flag.dismissed": "Dismissed a flag with a note",
    "mail.retry": "Retried an email that was not sent",
    "password_link.email": "Emailed sign-in links",
    "password_link.issue": "Made a one-time password link",
    "people.import": "Imported people from a CSV file",
    "person.batch_add": "Added someone to a batch", "person.batch_remove": "Removed someone from a batch",
    "person.create": "Added a person", "person.deactivate": "Deactivated a person", "person.edit": "Edited a person",
    "person.make_staff": "Made someone staff", "person.make_student": "Made someone a student",
    "person.reactivate": "Reactivated a person",
    "sync.start": "Started a Testpress sync",
}
TARGETS = {"attempt": "Attempt", "batch": "Batch", "exam": "Exam", "import": "People import", "mail": "Email",
           "people": "People", "person": "Person", "sync_run": "Sync run"}


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


def target_label(target_type: str) -> str:
    return TARGETS.get(target_type, target_type)


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
