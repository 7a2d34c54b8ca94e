"""Standings: each student's counting attempt at each exam, kept current as attempts change.

The gradebook and the exam reports read `standings`, one row per (student, exam), rather
than ranking every attempt on every page view: at a million attempts that ranking was the
page. The rows are derived by portal.attempts.grading's one counting rule and refreshed by a session
hook after every flush that adds, changes or deletes an attempt (a launch, a return, a
webhook, a sync page, a flag resolved) or changes an exam's rule, inside the same
transaction: a result and its standing commit together or not at all, whoever records it.
`rebuild` derives them all again (for a bulk load or a repair: `flask rebuild-standings`).
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from portal.attempts.grading import counting_attempts
from portal.core.bulk import among, listed
from portal.core.database import RECORDING_LOCK, KeysChanged, holds_every_key, require_key
from portal.models import Attempt, Flushed, Standing, flushed

COLUMNS = ("student_id", "exam_id", "attempts_used", "attempt_id", "score", "max_score", "percentage",
           "score_source", "flagged", "completed_at", "pending_attempt_id")


def _derived(*conditions: sa.ColumnElement[bool]) -> sa.Select:
    """The standings of the attempts meeting `conditions`, in COLUMNS' order."""
    counting = counting_attempts(*conditions).subquery()
    held = aliased(Attempt)
    return (sa.select(counting.c.student_id, counting.c.exam_id, counting.c.attempts_used, counting.c.attempt_id,
                      counting.c.score, counting.c.max_score, counting.c.percentage, held.score_source,
                      sa.func.coalesce(held.flagged, sa.false()), held.completed_at, counting.c.pending_attempt_id)
            .outerjoin(held, held.id == counting.c.attempt_id))


_TABLE = Standing.__table__
# Built once and run with each flush's students and exams: building the window's statement
# anew took longer than SQLite took to run it. The pairs are found through the students'
# index: `exam_id + 0` keeps SQLite off the exams' (its statistics made it read every attempt
# of a sync page's three exams, 170 ms a page at 100,000 attempts and growing with them,
# where the students' index reads theirs alone, 60 ms; EXPLAIN QUERY PLAN shows which).
_IN_SCOPE = (among(Attempt.student_id, listed("students")), among(Attempt.exam_id + 0, listed("exams")))
_FORGET = sa.delete(_TABLE).where(among(_TABLE.c.student_id, listed("students")),
                                  among(_TABLE.c.exam_id, listed("exams")))
_DERIVE = sa.insert(_TABLE).from_select(COLUMNS, _derived(*_IN_SCOPE))


@cache  # built once per database
def _derive_over(dialect_name: str) -> sa.Insert:
    """_DERIVE writing over the rows of the pairs derived (an upsert: the same words on both
    databases). WHERE true: else SQLite would read ON CONFLICT as the last join's ON."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).from_select(COLUMNS, _derived(*_IN_SCOPE).where(sa.true()))
    return statement.on_conflict_do_update(index_elements=[_TABLE.c.student_id, _TABLE.c.exam_id],
                                           set_={name: statement.excluded[name] for name in COLUMNS[2:]})


def refresh(connection: sa.Connection, students: set[int], exams: set[int], *, vanishing: bool = True) -> None:
    """Derive again the standings of every pair of `students` x `exams`.

    Pairs that did not change come out as they were, so a superset is harmless: two INs
    keep the statements the same whatever the pairs (a sync page's thousand students).
    Unless a pair may have lost its last attempt (`vanishing`: one was deleted or moved), the
    derived rows are written over the old ones in one statement, rather than the old ones
    deleted first.
    """
    if not students or not exams:
        return
    pairs = {"students": list(students), "exams": list(exams)}
    if vanishing:
        connection.execute(_FORGET, pairs)
        connection.execute(_DERIVE, pairs)
    else:
        connection.execute(_derive_over(connection.dialect.name), pairs)


def rebuild(session: Session) -> int:
    """Derive every standing again from the attempts; the number of rows. The caller commits."""
    session.execute(sa.delete(_TABLE))
    session.execute(sa.insert(_TABLE).from_select(COLUMNS, _derived()))
    return session.scalar(sa.select(sa.func.count()).select_from(_TABLE))


def refresh_exam(session: Session | sa.Connection, exam_id: int) -> None:
    """Derive again every standing at one exam (its counting rule changed)."""
    session.execute(sa.delete(_TABLE).where(_TABLE.c.exam_id == exam_id))
    session.execute(sa.insert(_TABLE).from_select(COLUMNS, _derived(Attempt.exam_id == exam_id)))


def _pairs_touched(session: Session, written: Flushed) -> tuple[set[int], set[int], set[int], bool]:
    """The students and exams of attempts this flush wrote, the exams whose rule changed, and
    whether a pair may have lost its last attempt (one was deleted or changed hands)."""
    students, exams, vanishing = set(), set(), bool(written.deleted)
    # An attempt given only a new report (a repeat's history) keeps its standing.
    changed = [attempt for attempt in written.dirty if session.is_modified(attempt, include_collections=False)]
    for attempt in written.new:  # a new attempt has no old pair
        students.add(attempt.student_id)
        exams.add(attempt.exam_id)
    for attempt in (*changed, *written.deleted):
        students.add(attempt.student_id)
        exams.add(attempt.exam_id)
        # And the old pair, should an attempt ever change hands.
        state = sa.inspect(attempt)
        old_students, old_exams = state.attrs.student_id.history.deleted, state.attrs.exam_id.history.deleted
        students.update(old_students)
        exams.update(old_exams)
        vanishing = vanishing or bool(old_students or old_exams)
    rules_changed = {exam.id for exam in written.exams if sa.inspect(exam).attrs.counting_rule.history.has_changes()}
    students.discard(None)
    exams.discard(None)
    return students, exams, rules_changed, vanishing


@event.listens_for(Session, "after_flush")
def _keep_standings_current(session: Session, flush_context) -> None:
    # after_flush still shows what the flush wrote (new, dirty, deleted) and the rows are in
    # the database, so the standings derive from the written attempts, in their transaction.
    written = flushed(session, flush_context)
    if not written.attempts and not written.exams:
        return  # a flush of other rows (a delivery's log, a person)
    students, exams, rules_changed, vanishing = _pairs_touched(session, written)
    connection = session.connection()  # Core statements: nothing here may flush again
    if not holds_every_key():
        # A keyed recording (PostgreSQL) derives only its own students' standings: their
        # locks make two transactions deriving the same pair take turns. Anything else it
        # would write is done again under the whole lock (keyed_write).
        if rules_changed:
            raise KeysChanged(("exam", min(rules_changed)))
        # Every attempt written: the pairs' students, and an attempt given only a new report
        # (which _pairs_touched leaves out: its standing cannot change).
        for student_id in sorted(students | {attempt.student_id for attempt in written.attempts}):
            require_key(("student", student_id))
    elif connection.dialect.name == "postgresql" and (students or rules_changed):
        # Two transactions deriving the same pair (a result and a rule change, say) take turns,
        # each then reading what the other committed. The recording lock: re-entrant, so a
        # recording already holding it goes on. (SQLite's one writer already takes turns.)
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(RECORDING_LOCK)))
    refresh(connection, students, exams, vanishing=vanishing)
    for exam_id in rules_changed:
        refresh_exam(connection, exam_id)
