"""How the worker's jobs stand, for the staff dashboard: when each last ran and how it ended,
and whether one is late (not started for twice its interval: no worker is running it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.core.clock import utcnow
from portal.jobs.leases import job_rows
from portal.jobs.schedule import JOBS
from portal.models import JobRun


@dataclass(frozen=True)
class JobStatus:
    label: str
    row: JobRun | None
    running: bool
    late: bool  # not started for twice its interval


@dataclass(frozen=True)
class WorkerStatus:
    jobs: list[JobStatus]

    @property
    def never_ran(self) -> bool:
        return all(job.row is None or job.row.started_at is None for job in self.jobs)

    @property
    def late(self) -> list[str]:
        return [job.label for job in self.jobs if job.late]


def worker_status(now: datetime | None = None) -> WorkerStatus:
    return WorkerStatus(job_statuses(now))


def job_statuses(now: datetime | None = None) -> list[JobStatus]:
    now = now or utcnow()
    rows = job_rows()
    statuses = []
    for job in JOBS:
        row = rows.get(job.name)
        started = row.started_at if row is not None else None
        running = row is not None and row.lease_until is not None and row.lease_until >= now
        statuses.append(JobStatus(job.name.label, row, running,
                                  late=not running and (started is None or started < now - 2 * job.interval())))
    return statuses
