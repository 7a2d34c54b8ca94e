"""An attempt's result: the nine fields Testpress reports, who vouches for which, and one
report of them. A leaf: it imports only the vocabulary, so that the models, the readers of
Testpress's payloads and reconciliation all build on it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.vocabulary import AttemptStatus, ReportSource

# The documented result fields, in the order Report and the columns (models.ResultColumns)
# hold them: the one list of them.
RESULT_FIELDS = ("total_count", "correct_count", "incorrect_count", "unanswered_count", "score", "max_score",
                 "percentage", "rank", "max_rank")
# How far a percentage can go either way, whatever the marking: negative marking can take it a
# little below zero, never past -100 (portal.testpress.reports, portal.exams.stats).
PERCENTAGE_BOUND = 100.0

# The result fields each signed source reports (the webhook's and the Admin API's payloads,
# read in portal.testpress.reports). A signed result's other fields (the max score and rank
# beside a webhook's result, the rank beside the Admin API's) can only have come from the
# browser return: see Attempt.claimed_fields.
SIGNED_FIELDS = {
    ReportSource.WEBHOOK: frozenset({"total_count", "correct_count", "incorrect_count", "unanswered_count", "score",
                                     "percentage"}),
    ReportSource.API: frozenset({"total_count", "correct_count", "incorrect_count", "unanswered_count", "score",
                                 "max_score", "percentage"}),
}
# The sources whose own word includes the maximum score: the Admin API's alone. Beside a
# webhook's score the maximum is the browser's claim, which ranks nothing (portal.attempts.grading).
SIGNS_MAX_SCORE = tuple(source for source, fields in SIGNED_FIELDS.items() if "max_score" in fields)


def max_score_claimed(row) -> bool:
    """Whether a verified result's maximum score (anything with score_source and max_score) is
    the browser return's word alone: staff pages and CSVs say so."""
    return row.max_score is not None and row.score_source in SIGNED_FIELDS and row.score_source not in SIGNS_MAX_SCORE


# Slotted, not frozen: a frozen dataclass's __init__ is five times slower, and a sync makes
# 100,000. Treated as immutable. tests/attempts/test_results.py checks its fields are RESULT_FIELDS.
@dataclass(slots=True)
class Report:
    """What one source said about one attempt, already parsed into plain values: who it is
    from, the status, Testpress's id, the nine result fields and Testpress's times."""

    source: ReportSource  # a plain string is turned into its member, or refused
    status: AttemptStatus
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
        self.source = ReportSource(self.source)  # ValueError for a source or status the
        self.status = AttemptStatus(self.status)  # vocabulary does not know

    @property
    def carries_result(self) -> bool:
        return self.status == AttemptStatus.COMPLETED and self.score is not None

    def result(self) -> dict:
        return {name: getattr(self, name) for name in RESULT_FIELDS}


def claim(score_value: float, max_score: float | None, percentage: float | None) -> str:
    """What a score only the browser reported claims, in words a page and a CSV both show: "17 / 20, 85.0%"."""
    claimed = f"{score_value:g}" + (f" / {max_score:g}" if max_score is not None else "")
    return claimed + (f", {percentage:.1f}%" if percentage is not None else "")
