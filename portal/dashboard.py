"""The staff dashboard's figures: totals, per-exam analytics and what needs attention."""

from __future__ import annotations

from dataclasses import dataclass, fields

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Attempt, Exam, SyncRun, UnmatchedReport, User
from portal.vocabulary import OPEN_STATUSES, AttemptStatus, ReportSource


@dataclass(frozen=True)
class DashboardFigures:
    counts: dict[str, int]  # attempts per status; a status with none is absent
    total: int  # every attempt
    students: int
    flagged: int  # attempts flagged as possible tampering
    in_progress: int  # attempts still open on Testpress
    unverified: int  # scored by the browser return alone
    unmatched: int  # Testpress reports that match no attempt
    per_exam: list[sa.Row]  # (exam, attempts, completed, average, best), by title
    last_sync: SyncRun | None

    def as_context(self) -> dict:
        """The figures as the template's variables (dataclasses.asdict would deep-copy the rows)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def dashboard_figures() -> DashboardFigures:
    counts = dict(db.session.execute(sa.select(Attempt.status, sa.func.count()).group_by(Attempt.status)).all())
    completed = Attempt.status == AttemptStatus.COMPLETED
    per_exam = db.session.execute(
        sa.select(
            Exam,
            sa.func.count(Attempt.id).label("attempts"),
            sa.func.count(Attempt.id).filter(completed).label("completed"),
            sa.func.avg(Attempt.percentage).filter(completed).label("average"),
            sa.func.max(Attempt.percentage).filter(completed).label("best"),
        )
        .outerjoin(Attempt)
        .group_by(Exam.id)
        .order_by(Exam.title)
    ).all()
    return DashboardFigures(
        counts=counts,
        total=sum(counts.values()),
        in_progress=sum(counts.get(status, 0) for status in OPEN_STATUSES),
        students=db.session.scalar(sa.select(sa.func.count()).where(User.is_staff.is_(False))),
        flagged=db.session.scalar(sa.select(sa.func.count()).where(Attempt.flagged)),
        unverified=db.session.scalar(sa.select(sa.func.count()).where(Attempt.score_source == ReportSource.RETURN)),
        unmatched=db.session.scalar(sa.select(sa.func.count(UnmatchedReport.id))),
        per_exam=per_exam,
        last_sync=db.session.scalar(sa.select(SyncRun).order_by(SyncRun.id.desc()).limit(1)),
    )
