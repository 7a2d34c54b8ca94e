"""The staff dashboard's figures: what needs attention, totals, and per-exam analytics.

Every figure costs the same at a million attempts as at a thousand, in the same number of
statements:

- totals, per-status counts and averages come from `exam_stats`, kept as results are
  recorded (portal.exams.stats): a few rows per exam;
- the best percentage per exam is one seek of the (exam, status, percentage) index, since a
  lower re-evaluation cannot be subtracted from a kept maximum;
- the attention items are counts over an index range, bounded: up to ATTENTION_CAP exactly,
  then "more than" (they are work queues, and the link opens the list itself).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Attempt, Exam, ExamStats, SyncRun, UnmatchedReport, User, WebhookDelivery
from portal.vocabulary import OPEN_STATUSES, SIGNED_SOURCES, AttemptStatus, ReportSource

ATTENTION_CAP = 1000
FAILING_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class BoundedCount:
    """A count read no further than `cap` rows: exact up to it, else only "more than cap"."""

    value: int
    cap: int

    @property
    def more(self) -> bool:
        return self.value > self.cap

    def __bool__(self) -> bool:
        return self.value > 0

    def __str__(self) -> str:
        return f"more than {self.cap:,}" if self.more else f"{self.value:,}"


def bounded(query: sa.Select) -> sa.ScalarSelect:
    """How many rows `query` selects, reading no more than the bound parameter "limit" of
    them (an index range, not a table); a subquery, so that several counts share a statement."""
    limited = query.limit(sa.bindparam("limit", type_=sa.Integer)).subquery()
    return sa.select(sa.func.count()).select_from(limited).scalar_subquery()


def bounded_count(query: sa.Select, cap: int | None = None) -> BoundedCount:
    cap = ATTENTION_CAP if cap is None else cap
    return BoundedCount(db.session.scalar(sa.select(bounded(query)), {"limit": cap + 1}), cap)


@dataclass(frozen=True)
class ExamFigures:
    exam: Exam
    attempts: int
    completed: int
    average: float | None  # of the completed attempts' percentages
    best: float | None


@dataclass(frozen=True)
class DashboardFigures:
    flagged: BoundedCount  # attempts flagged as possible tampering, to resolve
    unverified: BoundedCount  # scored by the browser return alone, started longer ago than the grace period
    grace: timedelta  # ... that period (TESTPRESS_CONFIRMATION_GRACE)
    unverified_before: datetime  # ... before this time (naive UTC, to the minute, as the filter takes it)
    unmatched: BoundedCount  # Testpress reports that match no attempt
    failing_webhooks: BoundedCount  # deliveries refused in the last 24 hours
    last_sync: SyncRun | None
    counts: dict[str, int]  # attempts per status; a status with none is absent
    total: int  # every attempt
    students: int
    in_progress: int  # attempts still open on Testpress
    per_exam: list[ExamFigures]  # by title

    def as_context(self) -> dict:
        """The figures as the template's variables."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def confirmation_grace() -> timedelta:
    """How long a score only the browser reported may wait for Testpress's webhook, which
    usually comes within seconds (TESTPRESS_CONFIRMATION_GRACE): past it, staff should look."""
    return timedelta(seconds=current_app.config["TESTPRESS_CONFIRMATION_GRACE"])


def unverified_cutoff(now: datetime) -> datetime:
    """The start time before which an unverified score needs attention, to the minute: the
    attempts table's date filter takes minutes, so its link lists exactly what was counted."""
    return (now - confirmation_grace()).replace(second=0, microsecond=0)


# Built once: a statement built on every request costs more than the database's work.
EXAM_STATS = sa.select(ExamStats.exam_id, ExamStats.status, ExamStats.attempts, ExamStats.scored,
                       ExamStats.percentage_sum)
# The best signed percentage: the (exam, status, percentage) index walked from the top, past
# the few claims a browser return alone made (they decide nothing); MAX() with that filter
# would read the exam's every completed attempt.
EXAMS_WITH_BEST = sa.select(Exam, sa.select(Attempt.percentage).where(
    Attempt.exam_id == Exam.id, Attempt.status == AttemptStatus.COMPLETED, Attempt.percentage.is_not(None),
    Attempt.score_source.in_(SIGNED_SOURCES)).order_by(Attempt.percentage.desc()).limit(1)
    .scalar_subquery()).order_by(Exam.title, Exam.id)
# The attention counts and the students in one statement: each is a seek, and a round trip
# each cost more than their seeks.
ATTENTION = sa.select(
    bounded(sa.select(Attempt.id).where(Attempt.flagged.is_(True))).label("flagged"),
    bounded(sa.select(Attempt.id).where(Attempt.score_source == ReportSource.RETURN,
                                        Attempt.started_at < sa.bindparam("cutoff"))).label("unverified"),
    bounded(sa.select(UnmatchedReport.id)).label("unmatched"),
    bounded(sa.select(WebhookDelivery.id).where(WebhookDelivery.outcome == "rejected",
                                                WebhookDelivery.received_at >= sa.bindparam("since"))
            ).label("failing_webhooks"),
    sa.select(sa.func.count()).where(User.is_staff.is_(False)).scalar_subquery().label("students"),
)
LAST_SYNC = sa.select(SyncRun).order_by(SyncRun.id.desc()).limit(1)


def dashboard_figures(now: datetime | None = None) -> DashboardFigures:
    now = now or utcnow()
    counts: dict[str, int] = {}
    by_exam: dict[int, list] = {}
    for row in db.session.execute(EXAM_STATS):
        if row.attempts:
            counts[row.status] = counts.get(row.status, 0) + row.attempts
        figures = by_exam.setdefault(row.exam_id, [0, 0, None])  # attempts, completed, average
        figures[0] += row.attempts
        if row.status == AttemptStatus.COMPLETED:
            figures[1] = row.attempts
            figures[2] = row.percentage_sum / row.scored if row.scored else None
    per_exam = [ExamFigures(exam, *by_exam.get(exam.id, (0, 0, None)), best=top)
                for exam, top in db.session.execute(EXAMS_WITH_BEST)]
    cutoff, cap = unverified_cutoff(now), ATTENTION_CAP
    counted = db.session.execute(ATTENTION, {"limit": cap + 1, "cutoff": cutoff,
                                             "since": now - FAILING_WINDOW}).one()
    return DashboardFigures(
        flagged=BoundedCount(counted.flagged, cap),
        unverified=BoundedCount(counted.unverified, cap),
        unverified_before=cutoff,
        grace=confirmation_grace(),
        unmatched=BoundedCount(counted.unmatched, cap),
        failing_webhooks=BoundedCount(counted.failing_webhooks, cap),
        last_sync=db.session.scalar(LAST_SYNC),
        counts=counts,
        total=sum(counts.values()),
        students=counted.students,
        in_progress=sum(counts.get(status, 0) for status in OPEN_STATUSES),
        per_exam=per_exam,
    )
