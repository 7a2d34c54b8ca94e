"""The worker: one long-lived process that runs each scheduled job when it is due, under its
lease, so that any number of workers on any number of servers run each job once."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.jobs import leases
from portal.jobs.schedule import JOBS, Job

log = logging.getLogger(__name__)
LONGEST_NAP = 5.0  # seconds between looks, however far the next job is: another worker may have run it


@dataclass(frozen=True)
class Ran:
    name: str
    line: str
    failed: bool


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"[:64]


def run_due(jobs: Sequence[Job] = JOBS, *, now: datetime | None = None, holder: str | None = None) -> list[Ran]:
    """Run every job due at `now` whose lease this worker takes; what each did."""
    holder = holder or holder_name()
    ran = []
    for job in jobs:
        moment = now or utcnow()  # each job's own: the one before it may have taken minutes
        if not _due(job, moment) or not leases.take(job.name, interval=job.interval(), lease=job.lease,
                                                    holder=holder, now=moment):
            continue
        try:
            line = job.run()
        except Exception as error:  # a job's failure is kept on its row and logged; the worker goes on
            db.session.rollback()
            line = f"{type(error).__name__}: {error}"
            log.exception("Job %s failed", job.name)
            leases.finish(job.name, holder=holder, error=line)
            ran.append(Ran(job.name, line, True))
            continue
        leases.finish(job.name, holder=holder)
        log.info("Job %s: %s", job.name, line)
        ran.append(Ran(job.name, line, False))
    return ran


def _due(job: Job, now: datetime) -> bool:
    """A read first, so that an idle worker's looks write nothing (SQLite has one writer)."""
    row = leases.job_rows().get(job.name)
    db.session.rollback()
    if row is None or row.started_at is None:
        return True
    live_lease = row.lease_until is not None and row.lease_until >= now
    return not live_lease and row.started_at <= now - job.interval()


def seconds_to_next(jobs: Sequence[Job] = JOBS) -> float:
    rows = leases.job_rows()
    db.session.rollback()
    now = utcnow()
    waits = []
    for job in jobs:
        row = rows.get(job.name)
        if row is None or row.started_at is None:
            return 0.0
        waits.append((row.started_at + job.interval() - now) / timedelta(seconds=1))
    return max(0.0, min(waits + [LONGEST_NAP]))


def run_forever(stop: threading.Event, jobs: Sequence[Job] = JOBS) -> None:
    """Run due jobs until `stop` is set (SIGTERM, Ctrl-C); a job running then is finished first."""
    holder = holder_name()
    log.info("Worker %s started", holder)
    while not stop.is_set():
        run_due(jobs, holder=holder)
        stop.wait(max(seconds_to_next(jobs), 0.5))
    log.info("Worker %s stopped", holder)
