"""What the portal tells people by email about results: a student's "your result is
confirmed" and "your score changed" (STUDENT_RESULT_EMAILS, off by default), and the daily
digest to staff of what needs their attention, sent only when there is something.

Each is queued in the outbox (portal.mail.outbox) in the transaction of what caused it: the
recording of Testpress's report, the digest job's run.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from portal.core.clock import to_local, utcnow
from portal.core.extensions import db
from portal.mail import outbox
from portal.mail.messages import letter
from portal.models import Attempt, OutboxMessage, User
from portal.vocabulary import SIGNED_SOURCES, MailKind, MailStatus


def result_recorded(attempt: Attempt, *, was_verified: bool, score_before: float | None) -> None:
    """After a report changed an attempt's result: queue the student's message, if one is due.

    Only for attempts launched from the portal (a first sync of years of Testpress's history
    mails nobody), and only once Testpress's own word holds the score."""
    if not current_app.config["STUDENT_RESULT_EMAILS"] or attempt.institute_attempt_id is None:
        return
    if attempt.score_source not in SIGNED_SOURCES or attempt.score is None:
        return
    if not was_verified:
        kind, subject, key = MailKind.RESULT_CONFIRMED, f"your result in {attempt.exam.title} is confirmed", \
            f"result_confirmed:{attempt.id}"
    elif score_before != attempt.score:
        kind, subject = MailKind.SCORE_CHANGED, f"your score in {attempt.exam.title} changed"
        key = f"score_changed:{attempt.id}:{attempt.scored_at:%Y%m%d%H%M%S}:{attempt.score:g}"
    else:
        return
    student = attempt.student
    if not student.active:
        return
    outbox.queue(kind, letter(str(kind), subject, name=student.name, exam=attempt.exam.title, score=attempt.score,
                              max_score=attempt.max_score, percentage=attempt.percentage, before=score_before),
                 to=student.email, key=key, recipient=student)


def queue_staff_digest(now: datetime | None = None) -> int:
    """Queue today's digest to every active staff member, if anything needs attention; how
    many were queued (none when there is nothing, or it went out today already)."""
    from portal.attempts.dashboard import FAILING_WINDOW, dashboard_figures

    now = now or utcnow()
    figures = dashboard_figures(now)
    not_sent = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(
        OutboxMessage.status == MailStatus.FAILED, OutboxMessage.failed_at > now - FAILING_WINDOW))
    items = [line for count, line in (
        (figures.flagged, f"{figures.flagged} flagged attempt{_s(figures.flagged)} to resolve"),
        (figures.unverified, f"{figures.unverified} score{_s(figures.unverified)} Testpress has not confirmed "
                             f"after the grace period"),
        (figures.unmatched, f"{figures.unmatched} Testpress report{_s(figures.unmatched)} matching no attempt"),
        (figures.failing_webhooks, f"{figures.failing_webhooks} webhook deliver"
                                   f"{'y' if figures.failing_webhooks.value == 1 else 'ies'} refused in the last day"),
        (not_sent, f"{not_sent} email{'' if not_sent == 1 else 's'} not sent in the last day"),
    ) if count]
    sync = figures.last_sync
    if sync is not None and sync.status == "failed":
        items.append(f"the last Testpress sync failed: {sync.error}")
    if not items:
        return 0
    day = to_local(now).date()
    queued = 0
    for person in db.session.scalars(sa.select(User).where(User.is_staff.is_(True), User.active.is_(True))):
        message = outbox.queue(MailKind.STAFF_DIGEST, letter("staff_digest", f"needs attention on {day:%d %b %Y}",
                                                             name=person.name, items=items),
                               to=person.email, key=f"staff_digest:{day.isoformat()}:{person.id}", recipient=person)
        queued += message is not None
    return queued


def _s(count) -> str:
    return "" if getattr(count, "value", count) == 1 else "s"
