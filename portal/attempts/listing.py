"""Every attempt, for staff: filters, orders, keyset pages and the CSV export, fast at a million.

Pages are keyset pages ("seek"): a page is the `per_page` rows after (or before) the last
row shown, found by comparing the order's columns with that row's values, so page 200 costs
what page 1 does and a row added meanwhile neither repeats nor hides a row. Each order ends
in a tie-break that makes it total (the attempt's id), and each has an index it walks
(migration 0010). No page counts every matching row: a count comes from exam_stats where
the filter is one it keeps (exam, status), else it is read no further than COUNT_CAP rows.

Hand-written rather than sqlakeyset: the orders by student name and exam title sort on a
joined table, and both planners walk the name index only when the page's condition also
says `name >= :last_name` (a row-value comparison spanning two tables alone is checked row
by row from the start); the helper is the forty lines of `_seek` and `Cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager
from werkzeug.datastructures import MultiDict

from portal.attempts.dashboard import BoundedCount, bounded_count
from portal.core.clock import TimeOutOfRange, from_local, institute_zone, to_local, zone_name
from portal.core.database import LARGEST_ID, LARGEST_ROW_ID, lower_text, whole_number
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Attempt, Exam, ExamStats, User, batch_members
from portal.results import max_score_claimed
from portal.vocabulary import SIGNED_SOURCES, AttemptStatus, ReportSource

PER_PAGE = 50
COUNT_CAP = 1000
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows

VERIFIED_CHOICES = {
    "signed": "Verified by Testpress",
    "return": "Browser return only (unverified)",
    "none": "No score yet",
}


def local_input(moment: datetime | None) -> str:
    """A stored naive-UTC time as a datetime-local field's value, in the institute's zone."""
    return "" if moment is None else to_local(moment).strftime(LOCAL_INPUT)


def _local_time(args: MultiDict, name: str, label: str) -> datetime | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise DomainError(name, f"“{label}” must be a date and time such as 2026-12-01T09:30 ({zone_name()}).")
    try:
        return from_local(moment)
    except TimeOutOfRange as error:
        raise DomainError(name, f"“{label}” must be a date and time within the calendar: {error}") from None


def _row_id(args: MultiDict, name: str) -> int | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    number = whole_number(text, maximum=LARGEST_ROW_ID)
    if number is None:
        raise DomainError(name, f"“{name}” must be a whole number from 1 to {LARGEST_ROW_ID}.")
    return number


@dataclass(frozen=True)
class AttemptFilters:
    """What staff asked to see; every field empty lists every attempt."""

    exam: int | None = None
    batch: int | None = None
    student: str = ""  # part of a name or an email (the search box)
    student_id: int | None = None  # exactly one person (the links from a person, the people list, the gradebook)
    status: str = ""  # an AttemptStatus
    verified: str = ""  # a key of VERIFIED_CHOICES
    flagged: bool = False
    started_from: datetime | None = None  # naive UTC, inclusive
    started_before: datetime | None = None  # naive UTC, exclusive

    @classmethod
    def from_args(cls, args: MultiDict) -> AttemptFilters:
        """The filters of a query string; DomainError naming the field for a value none takes."""
        status = args.get("status", "").strip()
        if status and status not in AttemptStatus.__members__.values():
            raise DomainError("status", f"“status” must be one of {', '.join(AttemptStatus)}.")
        verified = args.get("verified", "").strip()
        if verified and verified not in VERIFIED_CHOICES:
            raise DomainError("verified", f"“verified” must be one of {', '.join(VERIFIED_CHOICES)}.")
        return cls(
            exam=_row_id(args, "exam"),
            batch=_row_id(args, "batch"),
            student=args.get("student", "").strip()[:200],
            student_id=_row_id(args, "student_id"),
            status=status,
            verified=verified,
            flagged=args.get("flagged", "") == "1",
            started_from=_local_time(args, "from", "Started from"),
            started_before=_local_time(args, "to", "Started before"),
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), for links that keep them."""
        args = {"exam": self.exam or "", "batch": self.batch or "", "student": self.student,
                "student_id": self.student_id or "",
                "status": self.status, "verified": self.verified, "flagged": "1" if self.flagged else "",
                "from": local_input(self.started_from), "to": local_input(self.started_before)}
        return {name: str(value) for name, value in args.items() if value}

    @property
    def names_students(self) -> bool:
        return bool(self.batch or self.student)

    def conditions(self, walk_the_order: bool = False) -> list[sa.ColumnElement[bool]]:
        """The filters as SQL conditions.

        `walk_the_order`: the students the filter names hold many attempts, so that reading
        the order's index and keeping their rows beats reading all their attempts through the
        student index and sorting them (a batch: a quarter of a million, sorted for each page).
        Both planners would take the student index for an IN on student_id; `student_id + 0`
        is not a column an index holds, so they walk the order instead.
        """
        conditions = []
        student_id = Attempt.student_id + 0 if walk_the_order else Attempt.student_id
        if self.exam:
            conditions.append(Attempt.exam_id == self.exam)
        if self.batch:
            conditions.append(student_id.in_(
                sa.select(batch_members.c.user_id).where(batch_members.c.batch_id == self.batch)))
        if self.student_id:
            # Always through the student index, even when walking the order: one person's
            # attempts are few enough to sort, and a walk would read every attempt to find them.
            conditions.append(Attempt.student_id == self.student_id)
        if self.student:
            # autoescape: a "%" or "_" typed by staff is that character, not a wildcard.
            text = self.student.lower()
            conditions.append(student_id.in_(sa.select(User.id).where(sa.or_(
                lower_text(User.name).contains(text, autoescape=True),  # every letter, as the people search
                User.email.contains(text, autoescape=True)))))
        if self.status:
            conditions.append(Attempt.status == self.status)
        if self.verified == "signed":
            conditions.append(Attempt.score_source.in_(list(SIGNED_SOURCES)))
        elif self.verified == "return":
            conditions.append(Attempt.score_source == ReportSource.RETURN)
        elif self.verified == "none":
            conditions.append(Attempt.score_source.is_(None))
        if self.flagged:
            conditions.append(Attempt.flagged.is_(True))
        if self.started_from:
            conditions.append(Attempt.started_at >= self.started_from)
        if self.started_before:
            conditions.append(Attempt.started_at < self.started_before)
        return conditions

    @property
    def kept_by_exam_stats(self) -> bool:
        """Whether exam_stats holds this filter's count (it counts per exam and status)."""
        return not (self.batch or self.student or self.student_id or self.verified or self.flagged
                    or self.started_from or self.started_before)


@dataclass(frozen=True)
class Sort:
    label: str
    columns: tuple  # the order, ending in a tie-break that makes it total
    key: Callable[[Attempt], tuple]  # a row's values of `columns`
    descending_first: bool  # the direction a click on the column asks for first
    scored_only: bool = False  # rows with no value to order by are left out of the table
    note: str = ""


SORTS = {
    "started": Sort("Started", (Attempt.started_at, Attempt.id), lambda a: (a.started_at, a.id), True),
    "score": Sort("Score", (Attempt.percentage, Attempt.id), lambda a: (a.percentage, a.id), True,
                  scored_only=True, note="In order of score, attempts without a score are not listed."),
    # users.id, not attempts.student_id (equal, but only the first is in the name index's
    # order): then SQLite reads the order off ix_users_name and ix_attempts_student_started
    # instead of sorting each student's thousands of attempts (75 ms a page at a million).
    "student": Sort("Student", (User.name, User.id, Attempt.started_at, Attempt.id),
                    lambda a: (a.student.name, a.student.id, a.started_at, a.id), False),
    "exam": Sort("Exam", (Exam.title, Exam.id, Attempt.started_at, Attempt.id),
                 lambda a: (a.exam.title, a.exam.id, a.started_at, a.id), False),
}


@dataclass(frozen=True)
class Order:
    name: str  # a key of SORTS
    descending: bool

    @classmethod
    def from_args(cls, args: MultiDict) -> Order:
        name = args.get("sort", "").strip() or "started"
        if name not in SORTS:
            raise DomainError("sort", f"“sort” must be one of {', '.join(SORTS)}.")
        direction = args.get("dir", "").strip()
        if direction not in ("", "asc", "desc"):
            raise DomainError("dir", "“dir” must be asc or desc.")
        return cls(name, direction == "desc" if direction else SORTS[name].descending_first)

    @property
    def sort(self) -> Sort:
        return SORTS[self.name]

    def as_args(self) -> dict[str, str]:
        return {"sort": self.name, "dir": "desc" if self.descending else "asc"}

    def toggled(self, name: str) -> dict[str, str]:
        """The query parameters a click on column `name` asks for: this order reversed, or that one."""
        if name == self.name:
            return {"sort": name, "dir": "asc" if self.descending else "desc"}
        return {"sort": name, "dir": "desc" if SORTS[name].descending_first else "asc"}


# A cursor's values keep their types through the query string: JSON has no datetime.
_ENCODERS = {datetime: ("t", datetime.isoformat), float: ("f", repr), int: ("i", str), str: ("s", str)}
_DECODERS = {"t": datetime.fromisoformat, "f": float, "i": int, "s": str}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (or before) the row whose order values are `values`."""

    order: str  # the sort it belongs to: a cursor of another order starts nowhere
    before: bool
    values: tuple

    def encode(self) -> str:
        values = [(_ENCODERS[type(value)][0], _ENCODERS[type(value)][1](value)) for value in self.values]
        text = json.dumps([self.order, self.before, values], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: Order) -> Cursor:
        """The cursor in a page link; DomainError for one that was not made here or for another order."""
        try:
            name, before, values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            decoded = tuple(_DECODERS[tag](value) for tag, value in values)
            if name != order.name or not isinstance(before, bool) or len(decoded) != len(order.sort.columns):
                raise ValueError(name)
            for value, column in zip(decoded, order.sort.columns):  # a value of another type is a 500 to bind
                expected = column.type.python_type
                if not (isinstance(value, expected) or (expected is float and isinstance(value, int))) or (
                        isinstance(value, datetime) and value.tzinfo is not None) or (
                        isinstance(value, int) and abs(value) > LARGEST_ID):  # the drivers' 64 bits
                    raise ValueError(value)
                if isinstance(value, str):
                    # JSON's "\ud800" decodes to a lone surrogate, which no driver can encode, and
                    # PostgreSQL refuses a NUL in text: either would be a 500 to bind.
                    value.encode()  # UnicodeEncodeError, a ValueError, for a lone surrogate
                    if "\x00" in value:
                        raise ValueError(value)
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise DomainError("cursor", "This page link is not one the attempts table made (or it is for another "
                                        "order): start again from the first page.") from None
        return cls(name, before, decoded)


def _seek(columns: tuple, values: tuple, descending: bool) -> sa.ColumnElement[bool]:
    """Rows after `values` in the order of `columns` (all in one direction)."""
    typed = [sa.bindparam(None, value, type_=column.type) for column, value in zip(columns, values)]
    later = sa.tuple_(*columns) < sa.tuple_(*typed) if descending else sa.tuple_(*columns) > sa.tuple_(*typed)
    # Redundant, but it lets the planner start the first column's index at the cursor.
    first = columns[0] <= typed[0] if descending else columns[0] >= typed[0]
    return sa.and_(first, later)


def _ordered(columns: tuple, descending: bool) -> list:
    return [column.desc() if descending else column.asc() for column in columns]


@dataclass
class AttemptPage:
    items: list[Attempt]
    newer: str | None = None  # the cursor of the page before, if any
    older: str | None = None  # the cursor of the page after, if any
    count: BoundedCount | None = None  # matching attempts (exact up to its cap)


def _filtered(filters: AttemptFilters, order: Order, walk_the_order: bool) -> sa.Select:
    query = (sa.select(Attempt).join(Attempt.student).join(Attempt.exam)
             .where(*filters.conditions(walk_the_order)))
    if order.sort.scored_only:
        query = query.where(Attempt.percentage.is_not(None))
    return query.options(contains_eager(Attempt.student), contains_eager(Attempt.exam))


def attempts_page(filters: AttemptFilters, order: Order, cursor: Cursor | None,
                  per_page: int = PER_PAGE) -> AttemptPage:
    """One keyset page of the attempts `filters` select, in `order` (a fixed number of statements)."""
    columns = order.sort.columns
    count = count_attempts(filters)  # first: it says whether the students named hold many attempts
    query = _filtered(filters, order, walk_the_order=filters.names_students and count.more)
    backwards = cursor is not None and cursor.before
    descending = order.descending != backwards  # a page before the cursor is read in reverse
    if cursor is not None:
        query = query.where(_seek(columns, cursor.values, descending))
    rows = list(db.session.scalars(query.order_by(*_ordered(columns, descending)).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    page = AttemptPage(rows, count=count)
    if rows:
        has_newer = more if backwards else cursor is not None
        has_older = True if backwards else more
        if has_newer:
            page.newer = Cursor(order.name, True, order.sort.key(rows[0])).encode()
        if has_older:
            page.older = Cursor(order.name, False, order.sort.key(rows[-1])).encode()
    return page


def count_attempts(filters: AttemptFilters) -> BoundedCount:
    """How many attempts match: exact from exam_stats where it keeps the filter, else up to COUNT_CAP."""
    if filters.kept_by_exam_stats:
        total = sa.select(sa.func.coalesce(sa.func.sum(ExamStats.attempts), 0))
        if filters.exam:
            total = total.where(ExamStats.exam_id == filters.exam)
        if filters.status:
            total = total.where(ExamStats.status == filters.status)
        return BoundedCount(db.session.scalar(total), cap=2**63)
    return bounded_count(sa.select(Attempt.id).where(*filters.conditions()), COUNT_CAP)


def export_header() -> list[str]:
    zone = zone_name()
    return ["attempt id", "student email", "student name", "exam", "status", f"started ({zone})",
            f"completed ({zone})", "score", "max score", "percentage", "source", "verified", "flagged",
            "unverified claims"]


EXPORT_CHUNK = 1000


def export_rows(filters: AttemptFilters, order: Order) -> Iterator[tuple]:
    """Every attempt `filters` select, in `order`, as CSV rows: plain columns, streamed in
    chunks of EXPORT_CHUNK rows (a server-side cursor on PostgreSQL), so memory stays flat.

    Unlike the table, an order by score lists the attempts without one too, last. It walks
    the order's index whatever the filter, so that rows flow from the first (no sort).
    """
    columns = order.sort.columns
    # NULLS LAST only where a column may hold NULL (the score): elsewhere it would keep SQLite
    # from reading an ascending order off its index.
    ordering = [(column.desc() if order.descending else column.asc()) for column in columns]
    ordering = [(term.nulls_last() if column.expression.nullable else term) for term, column in zip(ordering, columns)]
    query = (sa.select(Attempt.id, User.email, User.name, Exam.title, Attempt.status, Attempt.started_at,
                       Attempt.completed_at, Attempt.score, Attempt.max_score, Attempt.percentage,
                       Attempt.score_source, Attempt.flagged)
             .join(Attempt.student).join(Attempt.exam).where(*filters.conditions(walk_the_order=True))
             .order_by(*ordering)
             .execution_options(yield_per=EXPORT_CHUNK))
    labels = {status: status.staff_label for status in AttemptStatus}
    sources = {source: source.label for source in ReportSource}
    zone = institute_zone()  # once, not per cell: a million rows hold two million times

    def local(moment: datetime | None) -> str:
        return "" if moment is None else moment.replace(tzinfo=UTC).astimezone(zone).isoformat(" ", "seconds")[:19]

    for row in db.session.execute(query):
        # A maximum beside a webhook's score is the browser's: apart, never as "verified".
        claimed = max_score_claimed(row)
        yield (row.id, row.email, row.name, row.title, labels.get(row.status, row.status),
               local(row.started_at), local(row.completed_at), _number(row.score),
               "" if claimed else _number(row.max_score), _number(row.percentage), sources.get(row.score_source, ""),
               "yes" if row.score_source in SIGNED_SOURCES else "no", "yes" if row.flagged else "no",
               f"max score {_number(row.max_score)}" if claimed else "")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
