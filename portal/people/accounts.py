"""People: the one way to add a student or staff member, change a password, or (de)activate
an account, used alike by the staff pages, the CLI and the demo.

The functions add to the session and flush; the caller commits. A refusal is a
`DomainError` naming the field at fault, which a page shows under that field and a
command prints as one line. Each change but set_password (the command line's own) writes its
audit entry (portal.core.audit) in the same session, so that it commits with the change; `by`
is who made it (None for the command line or the demo).
"""

from __future__ import annotations

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from portal.core import audit
from portal.core.database import flush_or_refuse
from portal.core.extensions import db
from portal.core.passwords import hash_password
from portal.core.refusals import DomainError
from portal.models import User

MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = User.__table__.c.name.type.length
MAX_EMAIL_LENGTH = User.__table__.c.email.type.length


class InvalidPerson(DomainError):
    """A value that no person may have (not an email, an empty name, a short password)."""


class PersonExists(DomainError):
    def __init__(self, email: str):
        super().__init__("email", f"a user with email {email} already exists")
        self.email = email


class NoSuchPerson(DomainError):
    def __init__(self, email: str):
        super().__init__("email", f"nobody has the email {email}")
        self.email = email


class OwnAccount(DomainError):
    def __init__(self):
        super().__init__("active", "You cannot deactivate your own account.")


class OwnRole(DomainError):
    """Staff may not make themselves a student: the portal could be left with no staff at all."""

    def __init__(self):
        super().__init__("is_staff", "You cannot make yourself a student: ask another staff member to do it.")


class LastStaff(DomainError):
    """The change would leave the portal with no active staff member, and nobody to undo it."""

    def __init__(self, field: str):
        super().__init__(field, "The portal must keep at least one active staff member: "
                                "make someone else staff before this change.")


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in; the login form uses it too, so that what
    a person types at login finds what staff typed when adding them."""
    return email.strip().lower()


def find_person(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def email_in_use(email: str, *, besides: User | None = None) -> bool:
    """Whether someone (other than `besides`) has this email."""
    query = sa.select(User.id).where(User.email == normalise_email(email))
    if besides is not None:
        query = query.where(User.id != besides.id)
    return db.session.scalar(query) is not None


def create_person(email: str, name: str, password: str, *, staff: bool = False, by: User | None) -> User:
    """Add a student (or, with `staff`, a staff member) who can log in with `password`.

    Raises InvalidPerson for a bad value and PersonExists when the email is taken. When the
    database's unique constraint is what refuses it (someone else added the same email
    since the check), the session is rolled back before PersonExists is raised.
    """
    email = check_email(email)
    name = check_name(name)
    check_password(password)
    if email_in_use(email):
        raise PersonExists(email)
    person = User(email=email, name=name, is_staff=staff, password_hash=hash_password(password))
    db.session.add(person)
    flush_or_refuse(lambda: PersonExists(email) if email_in_use(email) else None)
    audit.record(by, "person.create", "person", person.id, f"Added {person.email}",
                 after={"email": person.email, "name": person.name, "is_staff": person.is_staff})
    return person


def snapshot(person: User) -> dict:
    """What staff edit of a person, as the audit log keeps it."""
    return {"name": person.name, "email": person.email}


def update_person(person: User, *, name: str, email: str, by: User | None) -> tuple[dict, dict]:
    """Give `person` a new name and email, audited when either changes; (before, after) of the
    fields that changed.

    Raises InvalidPerson for a bad value and PersonExists when another person has the email
    (checked first, and again by the unique constraint, after which the session is rolled back).
    """
    email, name = check_email(email), check_name(name)
    if email_in_use(email, besides=person):
        raise PersonExists(email)
    before = snapshot(person)
    person.name, person.email = name, email
    flush_or_refuse(lambda: PersonExists(email))
    old, new = audit.changes(before, {"name": name, "email": email})
    if new:
        audit.record(by, "person.edit", "person", person.id, f"Edited {person.email}", before=old, after=new)
    return old, new


def keep_another_active_staff_member(person: User, field: str) -> None:
    """Raise LastStaff if `person` is the only active staff member.

    Decides on a count that another request could change: call it under write_transaction,
    or two staff demoting each other at once would both see the other still there.
    """
    if not (person.is_staff and person.active):
        return
    others = sa.select(sa.func.count()).where(User.is_staff.is_(True), User.active.is_(True), User.id != person.id)
    if not db.session.scalar(others):
        raise LastStaff(field)


def set_staff(person: User, staff: bool, *, by: User) -> None:
    """Make `person` staff or a student, audited when the role changes; raises OwnRole when
    `by` would make themselves a student, LastStaff when no active staff member would be left.
    Call under write_transaction.

    Sessions go on: the staff guard reads the role on every request, so a demoted person's
    next staff page is already refused.
    """
    if not staff and person.id == by.id:
        raise OwnRole()
    if not staff:
        keep_another_active_staff_member(person, "is_staff")
    was = person.is_staff
    person.is_staff = staff
    db.session.flush()
    if was != staff:
        audit.record(by, "person.make_staff" if staff else "person.make_student", "person", person.id,
                     f"Made {person.email} {'staff' if staff else 'a student'}",
                     before={"is_staff": not staff}, after={"is_staff": staff})


def set_password(email: str, password: str) -> User:
    """Give the person with `email` a new password, ending every session they have open.

    Raises InvalidPerson for a password too short, NoSuchPerson for an unknown email.
    """
    check_password(password)
    person = find_person(email)
    if person is None:
        raise NoSuchPerson(normalise_email(email))
    person.set_password(hash_password(password))
    db.session.flush()
    return person


def deactivate(person: User, *, by: User) -> None:
    """Stop `person` logging in and end their sessions, audited if they were active; raises
    OwnAccount if `by` is they, LastStaff when no active staff member would be left. Call
    under write_transaction."""
    if person.id == by.id:
        raise OwnAccount()
    keep_another_active_staff_member(person, "active")
    was = person.active
    person.set_active(False)
    db.session.flush()
    if was:
        _record_activity(person, False, by)


def reactivate(person: User, *, by: User | None) -> None:
    """Let `person` log in again, audited if they were deactivated."""
    was = person.active
    person.set_active(True)
    db.session.flush()
    if not was:
        _record_activity(person, True, by)


def _record_activity(person: User, active: bool, by: User | None) -> None:
    audit.record(by, "person.reactivate" if active else "person.deactivate", "person", person.id,
                 f"{'Reactivated' if active else 'Deactivated'} {person.email}",
                 before={"active": not active}, after={"active": active})


def check_email(email: str) -> str:
    """The email as stored; raises InvalidPerson if it is not an email address."""
    try:
        validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidPerson("email", str(error)) from None
    email = normalise_email(email)
    if len(email) > MAX_EMAIL_LENGTH:  # lower() can lengthen a few non-ASCII letters
        raise InvalidPerson("email", f"must be at most {MAX_EMAIL_LENGTH} characters")
    return email


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidPerson("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidPerson("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
