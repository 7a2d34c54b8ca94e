"""A job's lease: of the workers that find a job due, the one whose conditional UPDATE takes
its row runs it; the others see it taken. The same rule as the sync's running slot
(portal.testpress.sync.begin_sync): decided by the database, across every worker and server,
and a lease that ran out (its worker killed mid-job) lets the next worker take over.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import JobRun

log = logging.getLogger(__name__)
MAX_ERROR_LENGTH = JobRun.__table__.c.error.type.length


def job_rows() -> dict[str, JobRun]:
    return {row.name: row for row in db.session.scalars(sa.select(JobRun))}


def take(name: str, *, interval: timedelta, lease: timedelta, holder: str, now: datetime) -> bool:
    """Take the lease of job `name` if it is due at `now` (never run, or started at least
    `interval` ago) and no live lease holds it; commits. Whether this holder now runs it."""
    _ensure_row(name)
    free = sa.or_(JobRun.lease_until.is_(None), JobRun.lease_until < now)
    due = sa.or_(JobRun.started_at.is_(None), JobRun.started_at <= now - interval)
    stale = db.session.scalar(sa.select(JobRun.holder).where(JobRun.name == name, JobRun.lease_until < now))
    taken = db.session.execute(
        sa.update(JobRun).where(JobRun.name == name, free, due)
        .values(lease_until=now + lease, holder=holder, started_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    if taken and stale:
        log.warning("Job %s: took over from %s, whose lease had run out", name, stale)
    return taken


def finish(name: str, *, holder: str, error: str | None = None) -> None:
    """Give the lease up and keep how the run ended, if this holder still holds it; commits."""
    db.session.execute(
        sa.update(JobRun).where(JobRun.name == name, JobRun.holder == holder)
        .values(lease_until=None, finished_at=utcnow(), outcome="failed" if error else "ok",
                error=error[:MAX_ERROR_LENGTH] if error else None)
        .execution_options(synchronize_session=False))
    db.session.commit()


def _ensure_row(name: str) -> None:
    if db.session.get(JobRun, name) is not None:
        return
    db.session.add(JobRun(name=name))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another worker made it first: as good
        db.session.rollback()
