"""The job list: what the worker runs, how often, and the lease each holds while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from portal.core.extensions import db
from portal.vocabulary import JobName


@dataclass(frozen=True)
class Job:
    name: JobName
    interval: Callable[[], timedelta]  # read from the settings when the worker looks
    lease: timedelta  # longer than one run takes: past it, the run is taken to be dead
    run: Callable[[], str]  # does the work, commits, and answers one line saying what it did


def sync() -> str:
    from portal.testpress.client import TestpressClient
    from portal.testpress.settings import testpress_settings
    from portal.testpress.sync import SyncAlreadyRunning, sync_attempts

    settings = testpress_settings()
    if not settings.base_url or not settings.api_username:
        return "Testpress's Admin API is not set up (TESTPRESS_BASE_URL, TESTPRESS_API_USERNAME): nothing to sync."
    try:
        return sync_attempts(TestpressClient.from_settings(settings)).line()
    except SyncAlreadyRunning as running:
        return f"Not synced: {running}."


def send_outbox() -> str:
    from portal.mail.outbox import mail_settings, send_due

    if mail_settings() is None:
        return "Email is off (no MAIL_SERVER): nothing to send."
    return send_due().line()


def expire_imports() -> str:
    from portal.people.importing import delete_expired

    deleted = delete_expired()
    db.session.commit()
    return f"Deleted {deleted} unconfirmed import{'' if deleted == 1 else 's'} older than a day."


def staff_digest() -> str:
    from portal.attempts.notices import queue_staff_digest

    if not current_app.config["STAFF_DIGEST"] or not current_app.config["MAIL_SERVER"]:
        return "The staff digest is off (STAFF_DIGEST, or no MAIL_SERVER)."
    queued = queue_staff_digest()
    db.session.commit()
    return f"Staff digest queued for {queued} staff member{'' if queued == 1 else 's'}." if queued \
        else "No staff digest: nothing needs attention, or today's went out already."


def seconds(key: str) -> Callable[[], timedelta]:
    return lambda: timedelta(seconds=float(current_app.config[key]))


def every(interval: timedelta) -> Callable[[], timedelta]:
    return lambda: interval


JOBS = (
    # The sync renews its own lease (the running slot) page by page; a second worker finding
    # this lease run out meanwhile is told another sync is running.
    Job(JobName.SYNC, seconds("SYNC_INTERVAL"), timedelta(minutes=5), sync),
    Job(JobName.EXPIRE_IMPORTS, every(timedelta(hours=1)), timedelta(minutes=5), expire_imports),
    Job(JobName.DIGEST, every(timedelta(days=1)), timedelta(minutes=10), staff_digest),
    # Last, so that what the jobs before it queued goes out in the same pass.
    Job(JobName.OUTBOX, seconds("OUTBOX_INTERVAL"), timedelta(minutes=30), send_outbox),
)
