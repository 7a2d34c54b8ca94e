"""How the pages write scores, percentages and times: plain functions, used as Jinja filters.

Filters rather than template macros because a page calls them once per table row, and a
Jinja macro call costs about ten times a Python call: on a history of twenty rows that was
a tenth of the page. The macros of templates/macros.html of the same names call these, so
every page writes them the same way. The factory registers them (`configure_templates`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from portal.core.clock import institute_zone, utcnow
from portal.results import SIGNED_FIELDS, max_score_claimed
from portal.testpress.client import plain_failure
from portal.vocabulary import UNVERIFIED, VERIFIED, AttemptStatus

DASH = "—"  # a value Testpress has not reported


def score(attempt) -> str:
    """'12 / 20', '12' without a maximum, a dash without a score (anything with score, max_score)."""
    if attempt.score is None:
        return DASH
    if attempt.max_score is None:
        return f"{attempt.score:g}"
    return f"{attempt.score:g} / {attempt.max_score:g}"


NO_MAXIMUM = "Testpress has not given the maximum yet"
NO_RANK = "Testpress has not given a rank"


def result_score(attempt) -> str:
    """The results page's score: as `score`, and a score without its maximum says whose is missing
    (a result Testpress evaluated after "pending" comes with its score and percentage alone)."""
    if attempt.score is not None and attempt.max_score is None:
        return f"{attempt.score:g} ({NO_MAXIMUM})"
    return score(attempt)


def rank(attempt) -> str:
    """'3 of 40', '3', or, beside a score that has no rank, that Testpress gave none; a dash before any score."""
    if attempt.rank is None:
        return NO_RANK if attempt.score is not None else DASH
    return f"{attempt.rank}" + (f" of {attempt.max_rank}" if attempt.max_rank is not None else "")


@cache  # a status's badge is the same markup every time, and the pages show one a row
def status_badge(status: str, staff: bool = False) -> Markup:
    """An attempt's status as a badge: the student's word for it, or with `staff` the precise one."""
    status = AttemptStatus(status)
    return Markup(f'<span class="badge badge-{status}">{status.staff_label if staff else status.student_label}</span>')


def verification_badge(attempt) -> str:
    """Whether Testpress vouches for an attempt's scores (anything with Attempt's `has_scores`
    and `verified`), as the badge every page shows beside them, in portal.vocabulary's words;
    empty while there are none. A string of markup, for the caller's own Markup."""
    if not attempt.has_scores:
        return ""
    if attempt.verified:
        return f'<span class="badge badge-verified">{VERIFIED}</span>'
    return f'<span class="badge badge-unverified">{UNVERIFIED}</span>'


def review_note(attempt) -> str:
    """Why an attempt has no review to open yet, in a student's words (anything with Attempt's
    rules); empty when there is one. Said beside `verification_badge`, never against it: a verified
    attempt is never "awaiting" Testpress."""
    if attempt.reviewable:
        return ""
    if attempt.institute_attempt_id is None:
        return "Taken on Testpress directly: review it there."
    if AttemptStatus(attempt.status).resumable:
        return "Finish the attempt to review it."
    if attempt.status == AttemptStatus.PENDING:
        return "Testpress is still marking it; the review opens once it is marked."
    if attempt.verified:
        # Verified without Testpress's attempt id (an attempt recorded before the portal kept
        # it, or the demo's history): there is nothing to sign a review for.
        return "Testpress has not said which of its attempts this is, so there is no review to open here."
    return "These scores came back with your browser; the review opens once Testpress verifies them."


def confirmation(attempt, review_link: Markup | str = "", scope: str = "") -> Markup:
    """The one place a page says whether Testpress verified an attempt and why its review is
    or is not there: a badge, then the review's link when there is one (`review_link`), else why
    not, then what of the result Testpress's word covers where it is not all of it (`scope`,
    see confirmed_scope)."""
    # f-strings and escape() rather than Markup.format, whose string.Formatter was a sixth of
    # the history page's time (a confirmation per row); the same escaping: text is escaped,
    # Markup (the review's link) kept.
    badge, why = verification_badge(attempt), review_note(attempt)
    if badge:
        badge += " "
    why = f'<small class="muted review-note">{escape(why)}</small>' if why else escape(review_link)
    scope = f' <small class="confirmed-scope">{escape(scope)}</small>' if scope else ""
    return Markup(f'<span class="confirmation">{badge}{why}{scope}</span>')


# The result fields a signed report may confirm, in the words of a student's results page.
CONFIRMED_WORDS = (("score", "the score"), ("max_score", "the maximum score"), ("percentage", "the percentage"),
                   ("correct_count", "the answers"))


def and_list(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def confirmed_scope(attempt) -> str:
    """For a verified result that also holds fields only the browser reported (Attempt.claimed_fields),
    what Testpress confirmed and what came from the browser only, in one statement beside the
    "Verified by Testpress" badge; empty when Testpress's word covers everything shown."""
    if not attempt.claimed_fields:
        return ""
    signed = SIGNED_FIELDS[attempt.score_source]
    confirmed = [words for name, words in CONFIRMED_WORDS if name in signed and getattr(attempt, name) is not None]
    return f"Testpress confirmed {and_list(confirmed)}. {claimed_note(attempt)}"


CLAIMED_WORDS = {"max_score": "the maximum score", "rank": "the rank", "max_rank": "the rank"}


def claimed_note(attempt, staff: bool = False) -> str:
    """What a verified result shows on the browser return's word alone (Attempt.claimed_fields),
    in a sentence: to its student, or with `staff` to staff."""
    words = list(dict.fromkeys(CLAIMED_WORDS.get(name, name.replace("_", " ")) for name in attempt.claimed_fields))
    if not words:
        return ""
    listed = and_list(words)
    it, they = ("it", "it is") if len(words) == 1 else ("them", "they are")
    came = "came from the browser return only" if staff else "came back with your browser only"
    return (f"{listed[0].upper()}{listed[1:]} {came}: Testpress's signed report does not include {it}, "
            f"so {they} not verified.")


def staff_score(row) -> Markup:
    """A verified result's score for staff (anything with score, max_score and score_source):
    a maximum only the browser return reported is marked as its word, not Testpress's."""
    if max_score_claimed(row):
        return Markup(f'{row.score:g} <small class="claim" title="The maximum came from the browser return only: '
                      f'Testpress\'s signed report does not include it">/ {row.max_score:g} by the browser</small>')
    return Markup(score(row))


def plural(count, one: str, many: str | None = None) -> str:
    """The word that goes with `count` (a number, or a count read only up to a cap): "1 flag", "2 flags"."""
    return one if getattr(count, "value", count) == 1 else many or f"{one}s"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}%"


def when(moment: datetime | None, zone: ZoneInfo | None = None) -> Markup | str:
    """A stored naive-UTC time as a <time> element in the institute's zone (or `zone`), which it names."""
    if not moment:
        return DASH
    return _time_element(moment, zone or institute_zone())


# Memoised by its two inputs, so that the same time in the same zone is written once: an exam's
# closing time on every student's exam list, a history reloaded. The markup is a function of
# those alone (nothing of a person), about 5 µs to write and 0.2 µs to look up, and the pages
# write one a row.
@lru_cache(maxsize=4096)
def _time_element(moment: datetime, zone: ZoneInfo) -> Markup:
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    # tzname() is what strftime's %Z writes, at a thirtieth of its cost.
    return Markup(f'<time datetime="{moment.isoformat()}Z">{local:%d %b %Y, %H:%M} {local.tzname()}</time>')


def duration(period: timedelta) -> str:
    """A period in the largest whole unit that states it: "2 hours", "90 minutes"."""
    seconds = int(period.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}{'s' if seconds != size else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A stored (naive UTC) time as how long ago it was: "3 hours ago", "just now", "never"."""
    if moment is None:
        return "never"
    seconds = int(((now or utcnow()) - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


TEMPLATE_FILTERS = {"score": score, "percent": percent, "when": when, "ago": ago, "status_badge": status_badge,
                    "claimed_note": claimed_note, "staff_score": staff_score,
                    "result_score": result_score, "rank": rank, "confirmed_scope": confirmed_scope,
                    "duration": duration, "confirmation": confirmation, "plain_failure": plain_failure,
                    "plural": plural}
