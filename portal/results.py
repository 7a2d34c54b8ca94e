"""Recording what Testpress reports about an attempt, from any of its three sources.

The browser return, the signed webhook and the Admin API all end here, in
`record_report`, so that one attempt is one record however and in whatever order it is
reported:

- status only moves forward (a completed attempt never goes back to started);
- scores come from the most trusted source seen (api >= webhook > return), and only
  from a completed report: a "started" webhook's zeros are no result;
- every distinct report is kept as history, and a replayed one changes nothing;
- the Testpress attempt id a return claims (its hmac does not cover it) gives way to the
  one a signed report gives;
- a return whose scores agree with none of the signed reports is flagged, because the
  return's hmac does not cover its scores and a student could have edited them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from portal.models import RESULT_FIELDS, STATUSES, Attempt, AttemptReport, utcnow

SOURCES = ("return", "webhook", "api")
TRUST = {"return": 1, "webhook": 2, "api": 3}
SIGNED_SOURCES = ("webhook", "api")


@dataclass(slots=True)  # not frozen: that makes __init__ five times slower, and a sync makes 100,000
class Report:
    """What one source said about one attempt, already parsed into plain values. Treated
    as immutable, though nothing enforces it (and, unfrozen, it is unhashable)."""

    source: str
    status: str
    testpress_attempt_id: str | None = None
    total_count: int | None = None
    correct_count: int | None = None
    incorrect_count: int | None = None
    unanswered_count: int | None = None
    score: float | None = None
    max_score: float | None = None
    percentage: float | None = None
    rank: int | None = None
    max_rank: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def carries_result(self) -> bool:
        return self.status == "completed" and self.score is not None

    def result(self) -> dict:
        return {name: getattr(self, name) for name in RESULT_FIELDS}


def record_report(attempt: Attempt, report: Report, now: datetime | None = None) -> bool:
    """Fold `report` into `attempt`; answer whether anything about the attempt changed.

    Idempotent: recording the same report twice changes nothing the second time. The
    caller commits. It works on `attempt.reports` in memory, so a bulk caller can load
    many attempts with their reports in two queries and record them all. `attempt` may
    also be a plain object with an Attempt's attributes and a list of reports (the sync's
    bulk path, which writes what changed itself): its new reports are then plain too.
    """
    now = now or utcnow()
    changes = {}

    if report.testpress_attempt_id and report.testpress_attempt_id != attempt.testpress_attempt_id and (
        attempt.testpress_attempt_id is None
        # Only the return, whose hmac does not cover the id, has named it: Testpress's signed word wins.
        or (report.source in SIGNED_SOURCES and not reported_by_signed_source(attempt))
    ):
        changes["testpress_attempt_id"] = report.testpress_attempt_id
    if STATUSES.index(report.status) > STATUSES.index(attempt.status):
        changes["status"] = report.status
    # Only an attempt taken outside the portal dates from Testpress's clock; a launch
    # keeps the time the student pressed Start.
    if report.started_at and attempt.institute_attempt_id is None and report.started_at != attempt.started_at:
        changes["started_at"] = report.started_at
    if report.completed_at and attempt.completed_at is None:
        changes["completed_at"] = report.completed_at

    seen_column = f"{report.source}_seen_at"
    if getattr(attempt, seen_column) is None:
        changes[seen_column] = now

    if report.carries_result:
        trusted = TRUST[report.source] >= TRUST.get(attempt.score_source, 0)
        for name in RESULT_FIELDS:
            # A more trusted report overwrites; a less trusted one only fills gaps, since
            # the webhook carries no max_score or rank and the return does, in either order.
            value, current = getattr(report, name), getattr(attempt, name)
            if value is not None and value != current and (trusted or current is None):
                changes[name] = value
        if trusted and attempt.score_source != report.source:
            changes["score_source"] = report.source

    for name, value in changes.items():
        setattr(attempt, name, value)
    if _keep_history(attempt, report, now):
        # Only a new report can change what the reports say. (So a flag stored by some
        # other rule stays until the attempt's next new report.)
        _flag_disagreement(attempt)
        return True
    return bool(changes)


def reported_by_signed_source(attempt: Attempt) -> bool:
    """Whether the webhook or the Admin API has reported on the attempt, so that its
    Testpress attempt id is Testpress's own word and not only the browser return's claim."""
    return attempt.webhook_seen_at is not None or attempt.api_seen_at is not None


def _keep_history(attempt: Attempt, report: Report, now: datetime) -> bool:
    """Append `report` to the attempt's history unless it repeats the latest one; answer
    whether it was appended."""
    # Compared with the latest report of the same source *and status*: a late "started"
    # between two copies of one completion must not make the second copy look new.
    previous = [r for r in attempt.reports if r.source == report.source and r.status == report.status]
    if previous and _same_result(previous[-1], report):
        return False
    fields = {"source": report.source, "status": report.status, "received_at": now, **report.result()}
    # Building an ORM object costs more than the rest of record_report together: only an
    # ORM attempt, whose session is to insert it, gets one.
    attempt.reports.append(AttemptReport(**fields) if isinstance(attempt, Attempt) else SimpleNamespace(**fields))
    return True


def _flag_disagreement(attempt: Attempt) -> None:
    """Flag the attempt when a return's scores match none of Testpress's signed reports.

    Matching any signed report (not just the latest) keeps a genuine return from being
    flagged after Testpress re-evaluates the attempt.
    """
    returned = [r for r in attempt.reports if r.source == "return" and r.score is not None]
    signed = [r for r in attempt.reports if r.source in SIGNED_SOURCES and r.score is not None]
    suspicious = [r for r in returned if signed and not any(_same_result(r, s) for s in signed)]
    attempt.flagged = bool(suspicious)
    if suspicious:
        claimed, trusted = suspicious[-1], signed[-1]
        attempt.flag_reason = (
            f"The browser return claimed score {claimed.score:g} "
            f"({claimed.correct_count} correct), but Testpress reported "
            f"{trusted.score:g} ({trusted.correct_count} correct)."
        )
    else:
        attempt.flag_reason = None


def _same_result(a, b) -> bool:
    """Compare the result fields both sides carry (a webhook has no rank, for instance)."""
    for name in RESULT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            continue
        if not math.isclose(float(x), float(y), abs_tol=0.005):
            return False
    return True
