"""Batches: the one way to create, rename or archive a batch and to change its members,
used alike by the staff pages, the CSV import, the CLI and the demo.

The functions add to the session and flush; the caller commits. A refusal is a DomainError
naming the field at fault. Each change writes its audit entry (portal.core.audit) in the same
session, so that it commits with the change; `by` is who made it (None for the command line or
the demo).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import getaddresses
from typing import NamedTuple

import sqlalchemy as sa

from portal.core import audit
from portal.core.bulk import among
from portal.core.clock import utcnow
from portal.core.database import lower_text
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Batch, User, batch_members, exam_batches

MAX_NAME_LENGTH = Batch.__table__.c.name.type.length


def check_batch_name(name: str | None) -> str:
    name = " ".join((name or "").split())  # one space between words, as people read it
    if not name or len(name) > MAX_NAME_LENGTH:
        raise DomainError("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    return name


def find_batch(name: str) -> Batch | None:
    """The batch of this name, whatever its case (names are compared as people read them)."""
    return db.session.scalar(sa.select(Batch).where(lower_text(Batch.name) == check_batch_name(name).lower()))


def create_batch(name: str, *, by: User | None) -> Batch:
    batch = new_batch(name)
    audit.record(by, "batch.create", "batch", batch.id, f"Created batch “{batch.name}”", after={"name": batch.name})
    return batch


def new_batch(name: str) -> Batch:
    """create_batch without its audit entry, for a service whose own entry names the batches it
    makes (the CSV import: one entry for the whole file)."""
    name = check_batch_name(name)
    if find_batch(name) is not None:
        raise DomainError("name", f"a batch named {name} already exists")
    batch = Batch(name=name)
    db.session.add(batch)
    db.session.flush()
    return batch


def rename_batch(batch: Batch, name: str, *, by: User | None) -> Batch:
    """Rename `batch`; audited only when the name changes (the same name again is no change)."""
    name = check_batch_name(name)
    other = find_batch(name)
    if other is not None and other.id != batch.id:
        raise DomainError("name", f"a batch named {name} already exists")
    before = batch.name
    batch.name = name
    db.session.flush()
    if batch.name != before:
        audit.record(by, "batch.rename", "batch", batch.id, f"Renamed batch “{before}” to “{batch.name}”",
                     before={"name": before}, after={"name": batch.name})
    return batch


def set_archived(batch: Batch, archived: bool, *, by: User | None) -> None:
    """Archive or unarchive `batch`; one already so is left as it is, unaudited (a second press)."""
    if (batch.archived_at is not None) == archived:
        return
    batch.archived_at = utcnow() if archived else None
    db.session.flush()
    audit.record(by, "batch.archive" if archived else "batch.unarchive", "batch", batch.id,
                 f"{'Archived' if archived else 'Unarchived'} batch “{batch.name}”",
                 before={"archived": not archived}, after={"archived": archived})


def add_members(batch: Batch, people: Iterable[User | int]) -> int:
    """Put people in `batch` (those already in it stay once); the number added. No audit entry:
    the building block of the services below, which write theirs, and of the demo's seeding."""
    ids = {person if isinstance(person, int) else person.id for person in people}
    present = set(db.session.scalars(sa.select(batch_members.c.user_id).where(
        batch_members.c.batch_id == batch.id, batch_members.c.user_id.in_(ids)))) if ids else set()
    new = [{"batch_id": batch.id, "user_id": user_id} for user_id in sorted(ids - present)]
    if new:
        db.session.execute(sa.insert(batch_members), new)
        db.session.expire(batch, ["members"])
    return len(new)


def _delete_membership(batch: Batch, person: User) -> bool:
    removed = db.session.execute(sa.delete(batch_members).where(
        batch_members.c.batch_id == batch.id, batch_members.c.user_id == person.id)).rowcount
    db.session.expire(batch, ["members"])
    db.session.expire(person, ["batches"])
    return removed == 1


def remove_member(batch: Batch, person: User, *, by: User | None) -> bool:
    """Take `person` out of `batch`, from the batch's page; whether they were in it (audited if so)."""
    removed = _delete_membership(batch, person)
    if removed:
        audit.record(by, "batch.remove_member", "batch", batch.id, f"Removed {person.email} from batch “{batch.name}”",
                     before={"member": person.email})
    return removed


def add_person_to_batch(person: User, batch: Batch, *, by: User | None) -> bool:
    """Put `person` in `batch`, from the person's page; whether they were not in it yet (audited
    if so, as a change to the person)."""
    added = add_members(batch, [person]) == 1
    if added:
        audit.record(by, "person.batch_add", "person", person.id, f"Added {person.email} to {batch.name}",
                     after={"batch": batch.name, "batch_id": batch.id})
    return added


def remove_person_from_batch(person: User, batch: Batch, *, by: User | None) -> bool:
    """Take `person` out of `batch`, from the person's page; whether they were in it (audited if so)."""
    removed = _delete_membership(batch, person)
    if removed:
        audit.record(by, "person.batch_remove", "person", person.id, f"Removed {person.email} from {batch.name}",
                     before={"batch": batch.name, "batch_id": batch.id})
    return removed


class BatchRow(NamedTuple):
    batch: Batch
    members: int
    exams: int


def batch_rows() -> list[BatchRow]:
    """Every batch with its member and exam counts, unarchived first, by name: one statement."""
    members = (sa.select(sa.func.count()).where(batch_members.c.batch_id == Batch.id)
               .correlate(Batch).scalar_subquery())
    exams = (sa.select(sa.func.count()).where(exam_batches.c.batch_id == Batch.id)
             .correlate(Batch).scalar_subquery())
    rows = db.session.execute(sa.select(Batch, members, exams)
                              .order_by(Batch.archived_at.is_not(None), Batch.name)).all()
    return [BatchRow(*row) for row in rows]


def members_query(batch: Batch) -> sa.Select:
    """The batch's members by name, for db.paginate."""
    return (sa.select(User).join(batch_members, batch_members.c.user_id == User.id)
            .where(batch_members.c.batch_id == batch.id).order_by(User.name, User.id))


class EmailsAdded(NamedTuple):
    added: list[str]  # put in the batch now
    already: list[str]  # in it before
    unknown: list[str]  # nobody has this email (or it is not an email): listed back, nothing done


MAX_PASTED_EMAILS = 5000


def pasted_emails(text: str) -> list[str]:
    """The addresses in pasted `text`, lower-cased, each once, in order: bare ones (a
    spreadsheet's column, or typed) separated by new lines, spaces, commas or semicolons, and
    a mail client's list ("Asha Rao <asha@example.com>; Ravi <ravi@example.com>", Outlook's
    "Rao, Asha <asha@example.com>", Gmail's comma-separated ones), read by the standard
    library's address parser."""
    found = []
    for entry in re.split(r"[\r\n;]+", text or ""):  # a ";" is no part of an address or (unquoted) name
        if re.search(r"[<>()\"]", entry):  # names, quoted or with the address in <...>
            # A part without an "@" is a piece of a name holding an unquoted comma (Outlook's
            # "Rao, Asha <...>" reads as "Rao" and "Asha <...>"), not an address.
            found += [address for _name, address in getaddresses([entry]) if "@" in address]
        else:
            found += re.split(r"[\s,]+", entry)
    return list(dict.fromkeys(email.strip().lower() for email in found if email.strip()))


def add_members_by_email(batch: Batch, text: str, *, by: User | None) -> EmailsAdded:
    """Put the people whose emails are pasted in `text` (see pasted_emails: a spreadsheet's
    column or a mail client's list) in `batch`, audited when anyone was added. Raises
    DomainError over MAX_PASTED_EMAILS."""
    emails = pasted_emails(text)
    if not emails:
        raise DomainError("emails", "paste at least one email, one a line")
    if len(emails) > MAX_PASTED_EMAILS:
        raise DomainError("emails", f"paste at most {MAX_PASTED_EMAILS} emails at a time")
    found = dict(db.session.execute(sa.select(sa.func.lower(User.email), User.id)
                                    .where(among(sa.func.lower(User.email, type_=sa.String), emails))).all())
    present = set(db.session.scalars(sa.select(batch_members.c.user_id).where(
        batch_members.c.batch_id == batch.id, among(batch_members.c.user_id, found.values())))) if found else set()
    add_members(batch, [user_id for user_id in found.values() if user_id not in present])
    outcome = EmailsAdded(added=[email for email in emails if email in found and found[email] not in present],
                          already=[email for email in emails if email in found and found[email] in present],
                          unknown=[email for email in emails if email not in found])
    if outcome.added:
        audit.record(by, "batch.add_members", "batch", batch.id, f"Added {len(outcome.added)} to batch “{batch.name}”",
                     after={"added": outcome.added})
    return outcome
