"""Exams: the one way to offer a Testpress exam to students or change one, used alike by the
staff pages, the CLI and the demo, with the rules an exam's values follow.

The functions add to the session and flush; the caller commits. A refusal is an
`DomainError` naming the field at fault, which a page shows under that field and a command
prints as one line. Each change writes its audit entry (portal.core.audit) in the same session,
so that it commits with the change; `by` is who made it (None for the command line or the demo).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from portal.core import audit
from portal.core.clock import utcnow
from portal.core.database import LARGEST_ID, flush_or_refuse
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Attempt, Batch, Exam, User, batch_members, exam_batches
from portal.vocabulary import CountingRule

MAX_TITLE_LENGTH = Exam.__table__.c.title.type.length
MAX_URL_LENGTH = Exam.__table__.c.exam_url.type.length
MAX_DESCRIPTION_LENGTH = 5000
MAX_INSTRUCTIONS_LENGTH = 5000
MAX_ATTEMPTS_ALLOWED = 1000
# What a person may set on an exam, as the form and update_exam name them. `batches` is a
# list of Batch (or their ids): none is an exam for everyone.
FIELDS = ("title", "description", "instructions", "exam_url", "testpress_id", "opens_at", "closes_at",
          "attempts_allowed", "counting_rule", "batches", "published")
# A host name's characters once in its ASCII (IDNA) form.
HOST_NAME = re.compile(r"[a-z0-9._-]+", re.IGNORECASE)


class InvalidExam(DomainError):
    """A value that no exam may have."""


class BadExamUrl(InvalidExam):
    def __init__(self):
        super().__init__("exam_url", "The exam URL must be an http:// or https:// address copied from Testpress.")


class DuplicateTestpressId(DomainError):
    def __init__(self, testpress_id: int):
        super().__init__("testpress_id", f"an exam with Testpress id {testpress_id} already exists")
        self.testpress_id = testpress_id


class ExamHasAttempts(DomainError):
    def __init__(self, count: int):
        super().__init__("exam", f"this exam has {count} attempt{'s' if count != 1 else ''}: archive it instead, "
                                 "which hides it from students and keeps its history")


def add_exam(title: str, exam_url: str, *, by: User | None, testpress_id: int | None = None,
             description: str | None = "", opens_at: datetime | None = None, closes_at: datetime | None = None,
             published: bool = True, **rules) -> Exam:
    """Offer a new exam. Raises InvalidExam for a bad value, DuplicateTestpressId when another
    exam has `testpress_id` (see update_exam for a refusal by the database). `rules` are the
    other FIELDS (instructions, attempts_allowed, counting_rule, batches)."""
    exam = _new_exam(title=title, exam_url=exam_url, testpress_id=testpress_id, description=description,
                     opens_at=opens_at, closes_at=closes_at, published=published, **rules)
    audit.record(by, "exam.create", "exam", exam.id,
                 f"Added exam “{exam.title}”" + ("" if exam.published else " (a draft)"), after=snapshot(exam))
    return exam


def import_exam(testpress_id: int, title: str, exam_url: str | None, *, by: User | None) -> Exam:
    """A portal exam, as a draft, for a Testpress exam of the Admin API's list (`exam_url` None
    where the list gives none: the draft waits for it). Raises as add_exam does."""
    exam = _new_exam(title=title, exam_url=exam_url or "", testpress_id=testpress_id, published=False)
    audit.record(by, "exam.import", "exam", exam.id,
                 f"Imported exam “{exam.title}” from Testpress (id {testpress_id}), as a draft", after=snapshot(exam))
    return exam


def link_exam(exam: Exam, testpress_id: int, exam_url: str | None, *, by: User | None) -> Exam:
    """Link a portal exam not linked yet to a Testpress exam, taking its URL (`exam_url`) only
    if the portal exam has none. Raises as update_exam does."""
    before = snapshot(exam)
    _set_fields(exam, {"testpress_id": testpress_id, "exam_url": exam.exam_url or exam_url or ""})
    old, new = audit.changes(before, snapshot(exam))
    audit.record(by, "exam.link", "exam", exam.id, f"Linked exam “{exam.title}” to Testpress exam {testpress_id}",
                 before=old, after=new)
    return exam


def _new_exam(**values) -> Exam:
    """An exam of these FIELDS, checked and added, without an audit entry: add_exam and import_exam
    write theirs, each saying how the exam came."""
    exam = Exam(counting_rule=CountingRule.BEST, instructions="", batches=[])
    return _set_fields(exam, values)


def update_exam(exam: Exam, *, by: User | None, **changes) -> Exam:
    """Change some of an exam's FIELDS, all checked before any is set; audited when a value changed.

    Raises InvalidExam for a bad value, DuplicateTestpressId when another exam has the Testpress
    id. When the database's unique constraint is what refuses it (someone else took the id
    since the check), the session is rolled back before DuplicateTestpressId is raised.
    """
    before = snapshot(exam)
    _set_fields(exam, changes)
    old, new = audit.changes(before, snapshot(exam))
    if new:
        audit.record(by, "exam.update", "exam", exam.id, f"Edited exam “{exam.title}”: {', '.join(new)}",
                     before=old, after=new)
    return exam


def _set_fields(exam: Exam, changes: dict) -> Exam:
    """update_exam without its audit entry (see there), for the services that write their own."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"update_exam() got unknown fields: {', '.join(sorted(unknown))}")
    values = {name: getattr(exam, name) for name in FIELDS} | changes
    values["title"] = check_title(values["title"])
    values["published"] = bool(values["published"])
    # A draft may wait for its URL (an exam imported from Testpress without one); students
    # are sent to it, so a published exam always has one.
    if values["published"] or (values["exam_url"] or "").strip():
        values["exam_url"] = check_exam_url(values["exam_url"])
    else:
        values["exam_url"] = ""
    values["description"] = check_description(values["description"])
    values["instructions"] = check_instructions(values["instructions"])
    check_attempts_allowed(values["attempts_allowed"])
    values["counting_rule"] = check_counting_rule(values["counting_rule"])
    values["batches"] = find_batches(values["batches"] or [])
    check_testpress_id(values["testpress_id"])
    check_window(values["opens_at"], values["closes_at"])
    testpress_id = values["testpress_id"]
    if testpress_id_in_use(testpress_id, besides=exam):
        raise DuplicateTestpressId(testpress_id)
    for name, value in values.items():
        setattr(exam, name, value)
    db.session.add(exam)
    flush_or_refuse(lambda: DuplicateTestpressId(testpress_id) if testpress_id_in_use(testpress_id, besides=exam)
                    else None)
    return exam


def set_published(exam: Exam, published: bool, *, by: User | None) -> Exam:
    """Publish or unpublish, audited when the state changes. Raises InvalidExam for an archived
    exam or, to publish, one without its URL (students would be sent nowhere)."""
    if exam.archived_at is not None:
        raise InvalidExam("published", "an archived exam cannot be published: restore it first")
    if published and not exam.exam_url:
        raise InvalidExam("exam_url", "paste the exam's URL from Testpress before publishing it")
    was = exam.published
    exam.published = published
    db.session.flush()
    if was != published:
        audit.record(by, "exam.publish" if published else "exam.unpublish", "exam", exam.id,
                     f"{'Published' if published else 'Unpublished'} exam “{exam.title}”",
                     before={"published": not published}, after={"published": published})
    return exam


def set_archived(exam: Exam, archived: bool, *, by: User | None) -> Exam:
    """Archive (hidden from students for good, its attempts and results kept) or restore,
    audited when the state changes."""
    was = exam.archived_at is not None
    exam.archived_at = (exam.archived_at or utcnow()) if archived else None
    db.session.flush()
    if was != archived:
        audit.record(by, "exam.archive" if archived else "exam.restore", "exam", exam.id,
                     f"{'Archived' if archived else 'Restored'} exam “{exam.title}”",
                     before={"archived": not archived}, after={"archived": archived})
    return exam


def attempt_count(exam: Exam) -> int:
    return db.session.scalar(sa.select(sa.func.count(Attempt.id)).where(Attempt.exam_id == exam.id))


def delete_exam(exam: Exam, *, by: User | None) -> None:
    """Delete an exam nobody has attempted, audited with its values; raises ExamHasAttempts
    otherwise (archive it)."""
    count = attempt_count(exam)
    if count:
        raise ExamHasAttempts(count)
    exam_id, title, before = exam.id, exam.title, snapshot(exam)  # read while the row is there
    db.session.delete(exam)
    db.session.flush()
    audit.record(by, "exam.delete", "exam", exam_id, f"Deleted exam “{title}”", before=before)


# Table columns rather than the model's attributes, so that the student pages' plain selects
# stay plain (the ORM interprets any statement that names an attribute: twice the time).
_exams = Exam.__table__


def for_batches_where(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """The condition that an exam is for everyone (it names no batch) or names a batch that
    meets `conditions` on exam_batches (and what they join): the one rule of who an exam is
    for, shared by what a student may start and by a batch's gradebook."""
    named = sa.select(exam_batches.c.exam_id).where(exam_batches.c.exam_id == _exams.c.id)
    return sa.or_(~named.exists(), named.where(*conditions).exists())


def offered_to(student_id) -> sa.ColumnElement[bool]:
    """The condition that an exam is for this student: published, not archived, and for
    everyone (no batches) or for a batch they are in. The one rule, shared by the list and
    the start route; `student_id` may be a bind parameter."""
    theirs = sa.select(batch_members.c.batch_id).where(batch_members.c.user_id == student_id)
    return sa.and_(_exams.c.published, _exams.c.archived_at.is_(None),
                   for_batches_where(exam_batches.c.batch_id.in_(theirs)))


def find_batches(batches) -> list[Batch]:
    """Batches given as Batch rows or ids, as rows (in name order); InvalidExam for an unknown id."""
    ids = {batch if isinstance(batch, int) else batch.id for batch in batches}
    if not ids:
        return []
    found = db.session.scalars(sa.select(Batch).where(Batch.id.in_(ids)).order_by(Batch.name)).all()
    if len(found) != len(ids):
        raise InvalidExam("batches", "one of the chosen batches no longer exists")
    return list(found)


def snapshot(exam: Exam) -> dict:
    """An exam's FIELDS as the audit log keeps them (batches by name)."""
    values = {name: getattr(exam, name) for name in FIELDS}
    values["batches"] = [batch.name for batch in exam.batches]
    return values


def testpress_id_in_use(testpress_id: int | None, *, besides: Exam | None = None) -> bool:
    """Whether an exam other than `besides` has this Testpress id (None is never in use)."""
    if testpress_id is None:
        return False
    query = sa.select(Exam.id).where(Exam.testpress_id == testpress_id)
    if besides is not None and besides.id is not None:
        query = query.where(Exam.id != besides.id)
    return db.session.scalar(query) is not None


def check_exam_url(url: str | None) -> str:
    """The exam URL as stored: an http(s) address with a host, as Testpress's dashboard
    shows it; raises BadExamUrl for anything else (a javascript: URL above all, since
    students' browsers are sent there).

    Hand-written on urlsplit: WTForms' URL validator belongs to forms, and the CLI and the
    demo need the same rule.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host
        raise BadExamUrl() from None
    if (len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https")
            or not is_host(parts.hostname)
            or any(character.isspace() or not character.isprintable() for character in url)):
        raise BadExamUrl()
    return url


def is_host(host: str | None) -> bool:
    """A host name (international ones too) or an IP address; urlsplit gives IPv6 unbracketed."""
    if not host:
        return False
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or overlong label
        return False
    return HOST_NAME.fullmatch(ascii_host) is not None


def check_title(title: str | None) -> str:
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise InvalidExam("title", f"must be 1 to {MAX_TITLE_LENGTH} characters")
    return title


def check_description(description: str | None) -> str:
    description = description or ""
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidExam("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def check_instructions(instructions: str | None) -> str:
    instructions = instructions or ""
    if len(instructions) > MAX_INSTRUCTIONS_LENGTH:
        raise InvalidExam("instructions", f"must be at most {MAX_INSTRUCTIONS_LENGTH} characters")
    return instructions


def check_attempts_allowed(allowed: int | None) -> None:
    if allowed is not None and not 1 <= allowed <= MAX_ATTEMPTS_ALLOWED:
        raise InvalidExam("attempts_allowed", f"must be blank (unlimited) or a whole number from 1 to "
                                              f"{MAX_ATTEMPTS_ALLOWED}")


def check_counting_rule(rule: str | None) -> str:
    try:
        return CountingRule(rule or CountingRule.BEST).value
    except ValueError:
        raise InvalidExam("counting_rule", f"must be one of {', '.join(CountingRule)}") from None


def check_testpress_id(testpress_id: int | None) -> None:
    if testpress_id is not None and not 1 <= testpress_id <= LARGEST_ID:
        raise InvalidExam("testpress_id", f"must be a whole number from 1 to {LARGEST_ID}")


def check_window(opens_at: datetime | None, closes_at: datetime | None) -> None:
    if opens_at and closes_at and closes_at <= opens_at:
        raise InvalidExam("closes_at", "The exam must close after it opens.")
