"""Per-exam counts of attempts, kept up to date as attempts are recorded.

The dashboard needs, per exam and status, how many attempts there are and the average of
their percentages. Counting them from `attempts` reads every attempt (2.7 s at a million),
so `exam_stats` keeps one row per (exam, status): the number of attempts, how many have a
percentage Testpress gave (signed: a browser return's claim counts in no average), and the
sum of those percentages.

The rows are kept by one SQLAlchemy `after_flush` hook rather than by a call in each
recording path (the launch, the return, the webhook, the sync, staff actions): every write of
an attempt goes through the ORM and so through here, in the same transaction, so no path can
forget it and a rollback undoes both. It reads each flushed attempt's previous status, exam
and percentage (the columns are mapped with `active_history`) and sends one upsert of the
differences. Core `UPDATE attempts` statements bypass it; there are none outside tests and
migrations, and `flask rebuild-exam-stats` recounts from the attempts (after a restore, or as a
repair). What cannot be kept by adding and subtracting (the best percentage after a lower
re-evaluation) is read through an index instead (portal.attempts.dashboard).

Adding and subtracting floats is exact enough for percentages (a million of them drift by
less than 1e-6), but not once one is huge: 1e32 added and taken away again leaves 0, and
every other attempt's share of the sum is lost. A flush that moves a percentage beyond any
exam's (models.PERCENTAGE_BOUND, only a signed report can bring one) therefore has its
(exam, status) sums recounted, one index range each, instead of adjusted.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from portal.core.extensions import db
from portal.models import Attempt, ExamStats, Flushed, flushed
from portal.results import PERCENTAGE_BOUND
from portal.vocabulary import SIGNED_SOURCES

_TABLE = ExamStats.__table__
_KEPT = ("exam_id", "status", "percentage", "score_source")


def _contribution(exam_id, status, percentage, score_source) -> tuple[tuple, tuple[int, int, float]]:
    # A percentage only the browser reported is the student's claim: no average counts it.
    scored = percentage is not None and score_source in SIGNED_SOURCES
    # The status as plain text: an AttemptStatus and the same word read from the database are
    # one row, and sort alike (the order two PostgreSQL transactions lock the rows in).
    return (exam_id, str(status)), (1, int(scored), float(percentage) if scored else 0.0)


def _before_and_after(attempt: Attempt) -> tuple[tuple, tuple] | None:
    """The attempt's (exam, status, percentage, score source) before and after this flush, or None if unchanged."""
    histories = [sa.inspect(attempt).attrs[name].history for name in _KEPT]
    if not any(history.added or history.deleted for history in histories):
        return None  # most flushed attempts: a report appended, a time stamped
    before, after = [], []
    for name, history in zip(_KEPT, histories):
        if history.added or history.deleted:
            before.append(history.deleted[0] if history.deleted else None)
            after.append(history.added[0] if history.added else None)
        else:
            value = history.unchanged[0] if history.unchanged else getattr(attempt, name)
            before.append(value)
            after.append(value)
    return tuple(before), tuple(after)


def flushed_changes(written: Flushed) -> tuple[dict[tuple, list], set[tuple]]:
    """What this flush changes in exam_stats: {(exam_id, status): [attempts, scored, percentage_sum]},
    and the (exam_id, status) keys whose percentage_sum must be recounted rather than adjusted."""
    deltas: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0])
    recount_sums: set[tuple] = set()

    def add(values: tuple, sign: int) -> None:
        key, (count, scored, total) = _contribution(*values)
        delta = deltas[key]
        delta[0] += sign * count
        delta[1] += sign * scored
        delta[2] += sign * total
        if abs(total) > PERCENTAGE_BOUND:
            recount_sums.add(key)

    for attempt in written.new:
        add(tuple(getattr(attempt, name) for name in _KEPT), +1)
    for attempt in written.deleted:
        state = sa.inspect(attempt)
        add(tuple(state.attrs[name].history.deleted[0] if state.attrs[name].history.deleted
                  else getattr(attempt, name) for name in _KEPT), -1)
    for attempt in written.dirty:
        if not attributes.instance_state(attempt).deleted:
            change = _before_and_after(attempt)
            if change:
                add(change[0], -1)
                add(change[1], +1)
    return {key: delta for key, delta in deltas.items() if delta[0] or delta[1] or delta[2]}, recount_sums


@cache  # built once per database
def _upsert(dialect_name: str):
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.exam_id, _TABLE.c.status],
        set_={name: _TABLE.c[name] + statement.excluded[name] for name in ("attempts", "scored", "percentage_sum")},
    )


@sa.event.listens_for(Session, "after_flush")
def _keep_exam_stats(session: Session, flush_context) -> None:
    # after_flush: the new attempts' exam ids are set, and their history is still there.
    changes, recount_sums = flushed_changes(flushed(session, flush_context))
    if not changes and not recount_sums:
        return
    connection = session.connection()
    # One upsert of every row this flush touches, the recounted ones too (a zero change), in one
    # order: two PostgreSQL transactions, recording different students' results in parallel,
    # then lock the rows they share in the same order and never deadlock.
    touched = sorted(set(changes) | recount_sums)
    if touched:
        connection.execute(_upsert(connection.dialect.name), [
            {"exam_id": exam_id, "status": status, "attempts": count, "scored": scored, "percentage_sum": total}
            for exam_id, status in touched for count, scored, total in [changes.get((exam_id, status), (0, 0, 0.0))]])
    if recount_sums:
        # A later statement than the upsert that locked the rows: under READ COMMITTED it sees the
        # attempts of the recordings it waited for.
        connection.execute(_RECOUNT_SUM, [{"key_exam_id": exam_id, "key_status": status}
                                          for exam_id, status in sorted(recount_sums)])


# The percentage an average counts: Testpress's own (signed), else none.
_SIGNED_PERCENTAGE = sa.case((Attempt.score_source.in_(SIGNED_SOURCES), Attempt.percentage))

# The flushed attempts are in the table already (after_flush): their sum is the exact figure.
_RECOUNT_SUM = _TABLE.update().where(
    _TABLE.c.exam_id == sa.bindparam("key_exam_id"), _TABLE.c.status == sa.bindparam("key_status"),
).values(percentage_sum=sa.select(sa.func.coalesce(sa.func.sum(_SIGNED_PERCENTAGE), 0.0))
         .where(Attempt.exam_id == sa.bindparam("key_exam_id"), Attempt.status == sa.bindparam("key_status"))
         .scalar_subquery())


RECOUNT = sa.select(
    Attempt.exam_id,
    Attempt.status,
    sa.func.count().label("attempts"),
    sa.func.count(_SIGNED_PERCENTAGE).label("scored"),
    sa.func.coalesce(sa.func.sum(_SIGNED_PERCENTAGE), 0.0).label("percentage_sum"),
).group_by(Attempt.exam_id, Attempt.status)


def recount() -> dict[tuple[int, str], tuple[int, int, float]]:
    """The figures exam_stats should hold, counted from every attempt (a full scan)."""
    return {(row.exam_id, row.status): (row.attempts, row.scored, row.percentage_sum)
            for row in db.session.execute(RECOUNT)}


def stored() -> dict[tuple[int, str], tuple[int, int, float]]:
    """What exam_stats holds, rows of no attempts left out (as recount has none)."""
    return {(row.exam_id, row.status): (row.attempts, row.scored, row.percentage_sum)
            for row in db.session.execute(sa.select(ExamStats)).scalars() if row.attempts}


def rebuild() -> int:
    """Recount exam_stats from the attempts and refresh the planner's statistics (the caller
    commits); answer the number of rows.

    ANALYZE (the same word on SQLite and PostgreSQL): SQLite keeps no statistics unless told,
    and without them it guesses that any filter on an index matches ten rows, so that it
    sorts a quarter of a million attempts where walking the order's index would read a page.
    """
    db.session.execute(sa.delete(ExamStats))
    db.session.execute(sa.insert(ExamStats).from_select(
        ["exam_id", "status", "attempts", "scored", "percentage_sum"], RECOUNT))
    db.session.execute(sa.text("ANALYZE"))
    return db.session.scalar(sa.select(sa.func.count()).select_from(ExamStats))
