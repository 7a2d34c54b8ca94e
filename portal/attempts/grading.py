"""Which attempt counts: the one place an exam's counting rule (best, latest or first) is applied.

One statement ranks every attempt of each (student, exam) pair: scored attempts (completed,
with a score Testpress gave: see verified_score) first, then by the exam's rule (best by percentage,
see _counting_order), so that the first row of each pair is the
attempt that counts, or an unscored one when none has a score yet. The same row carries how
many attempts the student has made at the exam. It is a window (`row_number() OVER
(PARTITION BY student, exam ...)`), which SQLite and PostgreSQL both evaluate, and it is
narrowed by any condition on attempts: portal.attempts.standings derives the standings table from
it for the attempts a transaction changed, and the pages read that table.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import Attempt, Exam
from portal.results import SIGNS_MAX_SCORE
from portal.vocabulary import SIGNED_SOURCES, AttemptStatus, CountingRule, ReportSource


class Counting(NamedTuple):
    """A student's standing at one exam: the attempt that counts (None without a scored
    attempt) and the attempts made."""

    student_id: int
    exam_id: int
    rule: str  # a CountingRule
    attempts_used: int
    attempt_id: int | None
    score: float | None
    max_score: float | None
    percentage: float | None
    pending_attempt_id: int | None  # the latest score the browser alone reported


def verified_score() -> sa.ColumnElement[bool]:
    """An attempt whose score may count: completed, scored, and scored by Testpress's own
    word (a signed webhook or the Admin API). A score only the browser reported is the
    student's to edit: it decides nothing (no counting attempt, standing or rank) until
    Testpress confirms it, and the pages show it apart, as pending."""
    return sa.and_(Attempt.status == AttemptStatus.COMPLETED, Attempt.score.is_not(None),
                   Attempt.score_source.in_(sorted(SIGNED_SOURCES)))


def pending_score() -> sa.ColumnElement[bool]:
    """A completed attempt with a score only the browser return reported: what it claims."""
    return sa.and_(Attempt.status == AttemptStatus.COMPLETED, Attempt.score.is_not(None),
                   Attempt.score_source == ReportSource.RETURN)


def _counting_order() -> tuple:
    scored = verified_score()
    rule = Exam.counting_rule
    best = rule == CountingRule.BEST
    # "Best" compares marks as a share of the maximum: 8 / 10 beats 12 / 20, whatever the
    # marking of each attempt (Testpress may re-mark one out of a different total). A score
    # without its percentage cannot be compared so, and never outranks one with it; among
    # those alone, the bare score decides. The exact share (score / max_score, where the maximum is
    # known) breaks ties between percentages Testpress rounded to two places; where only the
    # percentage is known it is the percentage again, so an honest tie stays a tie and goes
    # to the first attempt to reach it.
    complete = Attempt.percentage.is_not(None)
    # Only a maximum Testpress reported divides: beside a webhook's score it is the browser's.
    share = sa.func.coalesce(sa.case((sa.and_(Attempt.score_source.in_(SIGNS_MAX_SCORE), Attempt.max_score > 0),
                                      Attempt.score / Attempt.max_score)),
                             Attempt.percentage / 100.0)
    # Within one partition every row has the same exam, hence the same rule: each CASE is
    # either a value for all of its rows or NULL for all of them, and the NULLs a BEST key
    # leaves (a score without its percentage) are all behind the `complete` key, so where each
    # database sorts NULLs never matters.
    return (
        sa.case((scored, 0), else_=1),
        sa.case((best, sa.case((complete, 0), else_=1))).asc(),
        sa.case((best, Attempt.percentage)).desc(),
        sa.case((best, share)).desc(),
        sa.case((sa.and_(best, ~complete), Attempt.score)).desc(),
        sa.case((rule == CountingRule.LATEST, Attempt.started_at)).desc(),
        sa.case((rule == CountingRule.FIRST, Attempt.started_at)).asc(),
        Attempt.started_at.asc(),  # among equal best scores, the first to reach it
        Attempt.id.asc(),
    )


# An attempt uses one of those allowed once Testpress has seen it: a launch nobody has
# reported yet (Testpress did not open, say) uses none. It stays resumable, so that Start
# signs the same attempt again rather than a new one: a student never holds two of them.
USED = Attempt.status != AttemptStatus.LAUNCHED


def counting_attempts(*conditions: sa.ColumnElement[bool]) -> sa.Select:
    """A select of one row per (student, exam) having an attempt that meets `conditions`:
    Counting's columns, in its order (a gradebook joins or filters it further)."""
    partition = (Attempt.student_id, Attempt.exam_id)
    scored = verified_score()
    ranked = (
        sa.select(
            Attempt.student_id, Attempt.exam_id, Exam.counting_rule.label("rule"),
            sa.func.count(sa.case((USED, Attempt.id))).over(partition_by=partition).label("attempts_used"),
            sa.case((scored, Attempt.id)).label("attempt_id"),
            sa.case((scored, Attempt.score)).label("score"),
            sa.case((scored, Attempt.max_score)).label("max_score"),
            sa.case((scored, Attempt.percentage)).label("percentage"),
            sa.func.max(sa.case((pending_score(), Attempt.id))).over(partition_by=partition).label(
                "pending_attempt_id"),
            sa.func.row_number().over(partition_by=partition, order_by=_counting_order()).label("place"),
        )
        .join(Exam, Exam.id == Attempt.exam_id)
        .where(*conditions)
        .subquery()
    )
    return sa.select(*(ranked.c[name] for name in Counting._fields)).where(ranked.c.place == 1)


def attempts_used(student_id: int, exam_id: int) -> int:
    """How many of the exam's attempts allowed the student has used (see USED)."""
    return db.session.scalar(sa.select(sa.func.count(Attempt.id))
                             .where(Attempt.student_id == student_id, Attempt.exam_id == exam_id, USED))
