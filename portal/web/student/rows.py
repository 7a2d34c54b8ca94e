"""What the student's pages read, apart from the pages: plain rows (named tuples, the
model's rules borrowed onto them) and the statements that fill them, built once at import.

The pages' statements are built once and run with each request's values: building and
compiling a statement anew took about as long as running it. They name the tables' columns
rather than the models' attributes: a select the ORM need not interpret runs in half the
time (bench/README.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from flask_sqlalchemy.pagination import SelectPagination
from markupsafe import Markup

from portal.exams.rules import offered_to
from portal.models import Attempt, Batch, Exam, Standing, exam_batches
from portal.vocabulary import AttemptStatus, CountingRule

PROGRESS_POINTS = 50  # the history chart shows the latest completed attempts, oldest first

_exams, _attempts, _standings = Exam.__table__, Attempt.__table__, Standing.__table__
NOT_CLOSED = sa.or_(_exams.c.closes_at.is_(None), _exams.c.closes_at > sa.bindparam("now"))
_WITH_EXAM = _attempts.join(_exams, _exams.c.id == _attempts.c.exam_id)


READ_RULES = ("verified", "has_scores", "reviewable")


def with_attempt_rules(*names: str):
    """A class decorator: a plain row of an attempt's columns, given the model's rules `names`
    on them (properties of Attempt, borrowed, never restated)."""
    def borrow(row_class: type) -> type:
        for name in names:
            setattr(row_class, name, getattr(Attempt, name))
        return row_class
    return borrow


@with_attempt_rules("verified", "has_scores")
class LatestAttempt(NamedTuple):
    """A student's latest attempt at an exam, as its card shows it. Its score_source says
    whether Testpress vouches for its score (the borrowed `verified`): a score the browser
    alone reported is shown as not yet verified. A field of the tuple, so of the memoised
    card's key (views.card): a webhook confirming the score is a new card."""

    id: int
    status: str
    score: float | None
    max_score: float | None
    percentage: float | None
    institute_attempt_id: int | None
    score_source: str | None


class CountingResult(NamedTuple):
    """The attempt that counts by the exam's rule, as its card shows it ("Best: 14 / 20")."""

    rule_label: str
    score: float
    max_score: float | None


class ExamCard(NamedTuple):
    """One exam of the list with the student's latest attempt at it and their standing (the
    attempts made and the counting result): one row of one statement, read as a plain tuple."""

    id: int
    title: str
    description: str
    instructions: str
    opens_at: datetime | None
    closes_at: datetime | None
    attempts_allowed: int | None
    counting_rule: str
    latest: LatestAttempt | None
    attempts_used: int
    counting: CountingResult | None

    is_upcoming = Exam.is_upcoming


_CARD_EXAM_FIELDS = ExamCard._fields[:ExamCard._fields.index("latest")]  # the exam's own columns
_latest = _attempts.alias("latest")
# The student's most recent attempt at each listed exam, by the history's order.
_LATEST_ID = (sa.select(_attempts.c.id)
              .where(_attempts.c.student_id == sa.bindparam("student_id"), _attempts.c.exam_id == _exams.c.id)
              .order_by(_attempts.c.started_at.desc(), _attempts.c.id.desc()).limit(1).scalar_subquery())
_CARDS = (
    sa.select(*(_exams.c[name] for name in _CARD_EXAM_FIELDS),
              *(_latest.c[name] for name in LatestAttempt._fields),
              _standings.c.attempts_used, _standings.c.attempt_id, _standings.c.score, _standings.c.max_score)
    .outerjoin(_standings, sa.and_(_standings.c.exam_id == _exams.c.id,
                                   _standings.c.student_id == sa.bindparam("student_id")))
    .outerjoin(_latest, _latest.c.id == _LATEST_ID)
    .order_by(_exams.c.title, _exams.c.id)
)
LISTED_EXAMS = _CARDS.where(offered_to(sa.bindparam("student_id")), NOT_CLOSED)
# What staff see when they open the students' list: every exam a student could be offered.
PREVIEWED_EXAMS = _CARDS.where(_exams.c.published, _exams.c.archived_at.is_(None), NOT_CLOSED)
EXAMS_BATCHES = (sa.select(exam_batches.c.exam_id, Batch.name).join(Batch, Batch.id == exam_batches.c.batch_id)
                 .where(exam_batches.c.exam_id.in_(sa.bindparam("exam_ids", expanding=True))).order_by(Batch.name))
OFFERED_EXAM = sa.select(Exam).where(Exam.id == sa.bindparam("exam_id"), offered_to(sa.bindparam("student_id")))


class Card(NamedTuple):
    """What an exam's card shows, its pieces written by portal.web.student.views.card (as the
    history's cells are), placed by the template. A tuple, not a dict: Jinja reads
    `card.title` as an attribute first, and a dict answers that with an exception."""

    id: int
    title: str
    description: str
    upcoming: bool
    facts: Markup  # its lines: the state ("Completed Score 12 / 20 (60.0%)"), the counting result
    # and the attempts used, when it closes, and for staff's preview who it is for
    instructions: str  # empty until the exam is open
    button: str  # the form's button ("Start", "Resume", "Retake"); empty where there is no form
    after: Markup  # beside the button: what stands in for a form there is not, and the link to
    # the latest result or to the attempts at this exam


_COUNTING_RULE = _CARD_EXAM_FIELDS.index("counting_rule")


def exam_card(row: tuple) -> ExamCard:
    """One row of LISTED_EXAMS (or PREVIEWED_EXAMS), its columns in ExamCard's and LatestAttempt's order."""
    exam_end = len(_CARD_EXAM_FIELDS)
    latest_end = exam_end + len(LatestAttempt._fields)
    exam, latest = row[:exam_end], row[exam_end:latest_end]
    used, counting_id, score, max_score = row[latest_end:]
    counting = None if counting_id is None else CountingResult(CountingRule(row[_COUNTING_RULE]).short_label,
                                                               score, max_score)
    return ExamCard(*exam, LatestAttempt(*latest) if latest[0] is not None else None, used or 0, counting)


class AttemptsExam(NamedTuple):
    """What the results page reads of an attempt's exam: its title, and whether it is open."""

    id: int
    title: str
    published: bool
    archived_at: datetime | None
    opens_at: datetime | None
    closes_at: datetime | None

    is_upcoming, is_closed, state, can_start = Exam.is_upcoming, Exam.is_closed, Exam.state, Exam.can_start


@with_attempt_rules(*READ_RULES, "claimed_fields")
class ResultRow(NamedTuple):
    """One attempt as its results page and its review link read it, with its exam."""

    id: int
    student_id: int
    exam_id: int
    status: str
    institute_attempt_id: int | None
    testpress_attempt_id: str | None
    score_source: str | None
    started_at: datetime
    completed_at: datetime | None
    total_count: int | None
    correct_count: int | None
    incorrect_count: int | None
    unanswered_count: int | None
    score: float | None
    max_score: float | None
    percentage: float | None
    rank: int | None
    max_rank: int | None
    exam: AttemptsExam


# With its exam in the same statement: the results page shows the exam's title and rules.
OWN_ATTEMPT = (sa.select(*(_attempts.c[name] for name in ResultRow._fields[:-1]),
                         *(_exams.c[name] for name in AttemptsExam._fields))
               .select_from(_WITH_EXAM).where(_attempts.c.id == sa.bindparam("attempt_id")))


@with_attempt_rules(*READ_RULES)
class HistoryRow(NamedTuple):
    """One line of the history: only the columns the table shows, read as a plain tuple.

    Twenty ORM attempts, each with its exam, cost more to build than the whole page's
    SQL; the rules on them stay the model's own (with_attempt_rules).
    """

    id: int
    started_at: datetime
    status: str
    score: float | None
    max_score: float | None
    percentage: float | None
    score_source: str | None
    testpress_attempt_id: str | None
    institute_attempt_id: int | None
    exam_title: str


# The select's columns, in HistoryRow's order.
HISTORY_COLUMNS = (*(_attempts.c[name] for name in HistoryRow._fields[:-1]), _exams.c.title)


class RowPagination(SelectPagination):
    """`db.paginate`'s page arithmetic over a select of columns: its items are HistoryRows.

    Flask-SQLAlchemy's own pagination answers only each row's first column (`.scalars()`),
    and counts in a second statement; here the rows carry the count (of the whole
    selection, in a subquery: see HISTORY_ROWS). `select` takes its
    `limit` and `offset` as parameters, beside `params`. Built as `db.paginate` builds its
    own, through the two hooks Flask-SQLAlchemy documents for subclasses.
    """

    def _query_items(self) -> list:
        params = {**self._query_args["params"], "limit": self.per_page, "offset": self._query_offset}
        rows = self._query_args["session"].execute(self._query_args["select"], params).all()
        self._total = rows[0][-1] if rows else None
        return [HistoryRow(*row[:-1]) for row in rows]

    def _query_count(self) -> int:
        if self._total is None and self.page > 1:
            # Past the last page (portal.web.pagination then asks for the last): only a count says where it is.
            select = self._query_args["select"]
            counted = sa.select(sa.func.count()).select_from(select.limit(None).offset(None).order_by(None).subquery())
            return self._query_args["session"].scalar(counted, self._query_args["params"])
        return self._total or 0


def _students(statement: sa.Select, one_exam: bool) -> sa.Select:
    """The statement narrowed to the student's attempts, and to one exam's with `one_exam`."""
    statement = statement.where(_attempts.c.student_id == sa.bindparam("student_id"))
    return statement.where(_attempts.c.exam_id == sa.bindparam("exam_id")) if one_exam else statement


NEWEST_FIRST = (_attempts.c.started_at.desc(), _attempts.c.id.desc())
# Keyed by whether the history is filtered to one exam.
# Each row carries the count of the whole selection as a scalar subquery, which both databases
# evaluate once, from the index alone: a window over the selection (count(*) OVER ()) made
# SQLite read and sort every attempt of the student for a page of twenty, three times as long.
HISTORY_ROWS = {
    one_exam: _students(sa.select(*HISTORY_COLUMNS,
                                  _students(sa.select(sa.func.count()).select_from(_attempts), one_exam)
                                  .correlate(None).scalar_subquery())
                        .select_from(_WITH_EXAM), one_exam)
    .order_by(*NEWEST_FIRST).limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))
    for one_exam in (False, True)
}
@with_attempt_rules("verified")
class ProgressRow(NamedTuple):
    """One point of the history's chart: hashable, so the drawing is memoised by its rows."""

    exam_title: str
    started_at: datetime
    percentage: float
    score_source: str | None


PROGRESS = {
    one_exam: _students(sa.select(_exams.c.title, _attempts.c.started_at, _attempts.c.percentage,
                                    _attempts.c.score_source)
                        .select_from(_WITH_EXAM),
              one_exam)
    .where(_attempts.c.status == AttemptStatus.COMPLETED, _attempts.c.percentage.is_not(None))
    .order_by(*NEWEST_FIRST).limit(PROGRESS_POINTS)
    for one_exam in (False, True)
}
ATTEMPTED_EXAMS = (sa.select(_exams.c.id, _exams.c.title)
                   .where(_exams.c.id.in_(_students(sa.select(_attempts.c.exam_id), one_exam=False)))
                   .order_by(_exams.c.title))
