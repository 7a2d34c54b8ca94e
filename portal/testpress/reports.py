"""What Testpress sends, read once: shared field readers and one constructor per source.

The webhook, the browser return and the Admin API each describe an attempt in their own
words (`correct_answers_count` or `correct_count`, numbers as JSON text, form text or JSON
numbers), but they mean the same fields. `from_webhook`, `from_return` and `from_api` turn
each into the same `ReportedAttempt`: a `Report` (what was said) and who and what it is
about. They raise `BadReport`, whose reason is safe to show and to log, for anything that
cannot be a Testpress value; the webhook's hash is verified over the body's text before
`from_webhook` reads it.

Hand-written rather than a validation library's models: the rules are few and Testpress's
quirks (a rank of "None", numbers as text, a payload without `attempt_state`) are most of
them, and the sync reads 100,000 attempts at a time, where a validating model per attempt
costs more than the rest of reading one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from portal.core.clock import naive_utc, utcnow
from portal.models import AttemptReport
from portal.results import PERCENTAGE_BOUND, RESULT_FIELDS, Report
from portal.vocabulary import AttemptStatus, ReportSource

# Plain decimals in ASCII digits only: float() alone would also take "1_000", "nan", "1e400"
# and "١٢٣" (as would \d).
PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
DIGITS = re.compile(r"[0-9]+")
TESTPRESS_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
LONGEST_NUMBER = 32
LARGEST_WHOLE = 2**63 - 1  # Testpress's ids are BIGINT columns
# Counts and ranks are INTEGER columns (32-bit on PostgreSQL); no exam comes near this.
LARGEST_COUNT = 10**9
# Testpress is a Python service: a value it does not compute may arrive as the text "None".
ABSENT_TEXTS = ("", "none", "null")
# Which result fields are counts (the others are decimals), from their columns' types.
WHOLE_FIELDS = frozenset(name for name in RESULT_FIELDS if isinstance(AttemptReport.__table__.c[name].type, sa.Integer))


class BadReport(ValueError):
    """A value Testpress would never send; `reason` names the field, never echoes a secret."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)  # not frozen, as Report, for speed
class ReportedAttempt:
    """A parsed Testpress report with who and what it is about. Treated as immutable."""

    report: Report
    institute_attempt_id: int | None = None
    email: str | None = None
    testpress_user_id: int | None = None
    testpress_exam_id: int | None = None
    payload: dict = field(default_factory=dict, compare=False)  # as received, without any hash

    @property
    def testpress_attempt_id(self) -> str:
        return self.report.testpress_attempt_id


# -- field readers ----------------------------------------------------------------------------


def is_absent(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ABSENT_TEXTS)


def number(value, name: str) -> float:
    """A finite number, given as a JSON number or as plain decimal text ("81.50")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str) and len(value) <= LONGEST_NUMBER and PLAIN_NUMBER.fullmatch(value.strip()):
        result = float(value)
    else:
        raise BadReport(f"{name} must be a number")
    if not math.isfinite(result):
        raise BadReport(f"{name} must be a number")
    return result


def whole(value, name: str, largest: int = LARGEST_WHOLE) -> int:
    """A whole number from 0 to `largest` ("12", 12 and "12.0" alike)."""
    if isinstance(value, int) and not isinstance(value, bool):
        result = value
    elif isinstance(value, str) and len(value) <= LONGEST_NUMBER and DIGITS.fullmatch(value.strip()):
        result = int(value)  # exactly, where a float would round a 19-digit id
    else:
        as_number = number(value, name)
        if not as_number.is_integer():
            raise BadReport(f"{name} must be a whole number from 0 up")
        result = int(as_number)
    if not 0 <= result <= largest:
        raise BadReport(f"{name} must be a whole number from 0 up")
    return result


def optional(read, value, name: str, **options):
    """`read(value, name)`, or None for a value Testpress left out."""
    return None if is_absent(value) else read(value, name, **options)


def moment(value, name: str) -> datetime | None:
    """An ISO 8601 time as naive UTC, or None when absent."""
    if is_absent(value):
        return None
    try:
        return naive_utc(str(value))
    except ValueError:
        raise BadReport(f"{name} must be an ISO 8601 time") from None


def testpress_attempt_id(value, name: str = "attempt_id") -> str | None:
    """Testpress's attempt id as text, or None when absent (a cancelled return has none)."""
    if is_absent(value):
        return None
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not TESTPRESS_ID.fullmatch(text):
        raise BadReport(f"{name} is not a Testpress attempt id")
    return text


def email(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadReport("email is not text")
    return value.strip() or None


def refuse_unstorable_text(values: Mapping | list) -> None:
    """BadReport for a NUL or a lone surrogate in any text of `values` (keys, values, and
    the objects and arrays JSON nests in them).

    No database column holds either (PostgreSQL refuses the statement, a 500), and Testpress
    never sends one, so a report carrying one is malformed whichever field it is in, even
    one the portal does not read: the whole payload may be kept for staff. The texts are
    joined and searched once, and types asked exactly (isinstance against the abstract
    Mapping costs more than the rest): the sync checks 100,000 attempts a run.
    """
    members = list(values.values()) if isinstance(values, Mapping) else values
    texts = [member for member in members if type(member) is str]
    if isinstance(values, Mapping):
        texts += [key for key in values if type(key) is str]
    for nested in [member for member in members if type(member) is dict or type(member) is list]:
        refuse_unstorable_text(nested)
    joined = "".join(texts)
    if "\x00" in joined:
        raise BadReport("a field holds a NUL character")
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            raise BadReport("a field holds text that is not valid Unicode") from None


def _results(values: Mapping, names: Mapping[str, str]) -> dict:
    """The result fields `names` maps to this source's keys, each read as a count or a decimal."""
    return {
        result: optional(whole, values.get(key), key, largest=LARGEST_COUNT) if result in WHOLE_FIELDS
        else optional(number, values.get(key), key)
        for result, key in names.items()
    }


def impossible_result(result: Mapping[str, float | int | None]) -> str | None:
    """Why `result` (read fields, by RESULT_FIELDS name) cannot be any exam's result, in words
    for the student who brought it back; None when it can be.

    Only the browser return is held to this: its scores are the student's to edit (its hmac
    covers none of them). A signed report is Testpress's own arithmetic, and an exam's
    marking (bonus marks, unusual negative marking) is Testpress's to decide; refusing one
    would lose a real result, and an odd one cannot upset anyone else's figures (see
    portal.exams.stats). Counts are already whole numbers from 0 and every number finite.
    """
    get = result.get
    percentage, score, max_score = get("percentage"), get("score"), get("max_score")
    total, rank, max_rank = get("total_count"), get("rank"), get("max_rank")
    if percentage is not None and abs(percentage) > PERCENTAGE_BOUND:
        return f"a percentage of {percentage:g}, beyond {PERCENTAGE_BOUND:g}"
    if max_score is not None and max_score < 0:
        return "a maximum score below zero"
    if score is not None and max_score is not None and abs(score) > max_score:
        return f"a score of {score:g} out of {max_score:g}"
    if total is not None:
        counts = {name: get(name) for name in ("correct_count", "incorrect_count", "unanswered_count")}
        for name, count in counts.items():
            if count is not None and count > total:
                return f"more {name.removesuffix('_count')} answers ({count}) than questions ({total})"
        if sum(count or 0 for count in counts.values()) > total:
            return f"more answers than the exam's {total} questions"
    if rank is not None and max_rank is not None and rank > max_rank:
        return f"a rank of {rank} out of {max_rank}"
    return None


# -- the webhook --------------------------------------------------------------------------------

# The older documented payload has no attempt_state: it is only ever sent on completion.
WEBHOOK_STATES = {"started": AttemptStatus.STARTED, "completed": AttemptStatus.COMPLETED}
WEBHOOK_RESULT_KEYS = {
    "total_count": "total_count",
    "correct_count": "correct_answers_count",
    "incorrect_count": "incorrect_answers_count",
    "unanswered_count": "unanswered_answers_count",
    "score": "score",
    "percentage": "percentage",
}
WEBHOOK_REQUIRED = ("correct_answers_count", "incorrect_answers_count", "unanswered_answers_count", "score",
                    "percentage")


def from_webhook(payload: dict) -> ReportedAttempt:
    """A verified webhook payload (numbers as their JSON text) as a report."""
    refuse_unstorable_text(payload)
    state = payload.get("attempt_state", "completed")
    status = WEBHOOK_STATES.get(state) if isinstance(state, str) else None
    if status is None:
        raise BadReport("attempt_state must be started or completed")
    missing = [key for key in WEBHOOK_REQUIRED if is_absent(payload.get(key))]
    if missing:
        raise BadReport(f"{missing[0]} must be a number")
    result = _results(payload, WEBHOOK_RESULT_KEYS)
    exam = payload.get("exam")
    exam_id = exam.get("id") if isinstance(exam, dict) else None
    completed = status == AttemptStatus.COMPLETED
    report = Report(
        source=ReportSource.WEBHOOK,
        status=status,
        testpress_attempt_id=str(whole(payload.get("attempt_id"), "attempt_id")),
        # A "started" delivery carries zeros, not a result: keep them out of the history.
        **{name: value if completed or name == "total_count" else None for name, value in result.items()},
        # Outside the hash: an unreadable time is left out rather than refusing the delivery.
        started_at=_lenient_moment(payload.get("attempt_start_time")),
        completed_at=_lenient_moment(payload.get("completed_on")) if completed else None,
    )
    return ReportedAttempt(
        report=report,
        institute_attempt_id=_own_reference(payload.get("institute_attempt_id")),
        email=email(payload.get("email")),
        testpress_user_id=whole(payload.get("user_id"), "user_id"),
        testpress_exam_id=optional(whole, exam_id, "exam.id"),
        payload={name: value for name, value in payload.items() if name != "hash"},
    )


def _lenient_moment(value) -> datetime | None:
    try:
        return moment(value, "time")
    except BadReport:
        return None


def _own_reference(value) -> int | None:
    """The portal's launch reference; anything but a whole number cannot be one of ours."""
    try:
        return optional(whole, value, "institute_attempt_id")
    except BadReport:
        return None


# -- the browser return --------------------------------------------------------------------------

RETURN_REQUIRED = ("email", "first_name", "institute_attempt_id", "status", "hmac")
RETURN_STATUSES = (AttemptStatus.COMPLETED, AttemptStatus.CANCELLED, AttemptStatus.PENDING)


def from_return(fields: Mapping[str, str]) -> ReportedAttempt:
    """The fields Testpress sent back with the browser as a "return" report. Its hmac (checked
    by the caller, against the stored launch) covers none of the result."""
    refuse_unstorable_text(fields)
    missing = [name for name in RETURN_REQUIRED if not fields.get(name, "").strip()]
    if missing:
        raise BadReport(f"Missing field(s): {', '.join(missing)}.")
    reference = fields["institute_attempt_id"].strip()
    if not DIGITS.fullmatch(reference) or len(reference) > 19 or int(reference) > LARGEST_WHOLE:
        raise BadReport("institute_attempt_id must be a number the portal issued.")
    status = fields["status"].strip().lower()
    if status not in RETURN_STATUSES:
        raise BadReport(f"status must be one of {', '.join(RETURN_STATUSES)}.")
    result = _results(fields, {name: name for name in RESULT_FIELDS})
    if (impossible := impossible_result(result)) is not None:
        raise BadReport(f"The result your browser brought back from Testpress is not possible ({impossible}), "
                        "so nothing was recorded; Testpress also sends the portal your result directly.")
    report = Report(
        source=ReportSource.RETURN,
        status=AttemptStatus(status),
        testpress_attempt_id=testpress_attempt_id(fields.get("attempt_id")),
        # The browser comes back the moment the student submits: that is when it completed.
        completed_at=utcnow() if status == AttemptStatus.COMPLETED else None,
        **result,
    )
    return ReportedAttempt(report=report, institute_attempt_id=int(reference), email=fields["email"].strip())


# -- the Admin API ---------------------------------------------------------------------------------

API_STATES = {"Running": AttemptStatus.STARTED, "Completed": AttemptStatus.COMPLETED}
NOT_STARTED = "Not Started"  # an attempt Testpress created but nobody began: nothing to record
API_RESULT_KEYS = {
    "total_count": "total_count",
    "correct_count": "correct_answers_count",
    "incorrect_count": "incorrect_answers_count",
    "unanswered_count": "unanswered_count",
    "score": "score",
    "max_score": "max_score",
    "percentage": "percentage",
}
# The result fields these two payloads hold are portal.results.SIGNED_FIELDS (tests/attempts/test_results.py).


API_REQUIRED = ("correct_answers_count", "incorrect_answers_count", "unanswered_count", "score", "percentage")


def from_api(result: dict) -> ReportedAttempt | None:
    """An Admin API attempt as a report, or None for one nobody began."""
    if not isinstance(result, dict):
        raise BadReport("not an object")
    state = result.get("state")
    if state == NOT_STARTED:
        return None
    status = API_STATES.get(state) if isinstance(state, str) else None
    label = f"attempt {str(result.get('id'))[:32]!r}"
    if status is None:
        raise BadReport(f"{label} has unknown state {str(state)[:20]!r}")
    completed = status == AttemptStatus.COMPLETED
    try:
        refuse_unstorable_text(result)
        if completed and (missing := [key for key in API_REQUIRED if is_absent(result.get(key))]):
            raise BadReport(f"{missing[0]} must be a number")
        report = Report(
            source=ReportSource.API,
            status=status,
            testpress_attempt_id=str(whole(result.get("id"), "id")),
            started_at=moment(result.get("date"), "date"),
            # A running attempt's partial counts are no result: keep them out of its history.
            **(_results(result, API_RESULT_KEYS) if completed else {}),
            completed_at=moment(result.get("completed_on"), "completed_on") if completed else None,
        )
        user_id, exam_id = whole(result.get("user_id"), "user_id"), whole(result.get("exam_id"), "exam_id")
    except BadReport as error:
        raise BadReport(f"{label} is unreadable: {error.reason}") from None
    return ReportedAttempt(
        report=report,
        institute_attempt_id=_own_reference(result.get("institute_attempt_id")),
        email=email(result.get("email")) if isinstance(result.get("email"), str) else None,
        testpress_user_id=user_id,
        testpress_exam_id=exam_id,
        payload=result,
    )
