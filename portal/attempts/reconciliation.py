"""Recording what Testpress reports about an attempt, from any of its three sources.

The browser return, the signed webhook and the Admin API all end here, in
`record_report`, so that one attempt is one record however and in whatever order it is
reported:

- status only moves forward (a completed attempt never goes back to started);
- scores come from the most trusted source seen (api >= webhook > return), and only
  from a completed report: a "started" webhook's zeros are no result;
- every distinct report is kept as history, and a replayed one changes nothing, unless
  Testpress's own word says it is new: the Admin API's answer is the state when it was
  fetched, and a webhook dated later than the result held is a later evaluation;
- between two signed results, Testpress's own times decide where both carry one, whichever
  source sent them;
- the Testpress attempt id a return claims (its hmac does not cover it) gives way to the
  one a signed report gives;
- a return whose scores agree with none of the signed reports is flagged, because the
  return's hmac does not cover its scores and a student could have edited them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime

from portal.attempts import notices
from portal.core.clock import utcnow
from portal.core.objects import append, assign, new_object
from portal.models import Attempt, AttemptReport
from portal.results import RESULT_FIELDS, Report
from portal.vocabulary import SIGNED_SOURCES, AttemptStatus, ReportSource


def record_report(attempt: Attempt, report: Report, now: datetime | None = None) -> bool:
    """Fold `report` into `attempt`; answer whether anything about the attempt changed.

    Idempotent: recording the same report twice changes nothing the second time, and a
    late copy of any earlier report is the same report. The caller commits, under
    `portal.core.database.write_transaction`, which owns the attempt while this decides. It works
    on `attempt.reports` in memory, so a bulk caller can load many attempts with their
    reports in two queries and record them all.
    """
    now = now or utcnow()
    changes = {}
    echo = _repeats_an_earlier_report(attempt, report)

    if report.source == ReportSource.RETURN:
        if _contradicts_an_earlier_return(attempt, report):
            # Replaying a return with other values is the student's edit (its hmac covers
            # neither the scores nor the id): it changes nothing, and staff see it flagged.
            return _keep_history(attempt, report, now, echo)
        if report.testpress_attempt_id and attempt.claimed_testpress_attempt_id is None:
            changes["claimed_testpress_attempt_id"] = report.testpress_attempt_id
    elif report.testpress_attempt_id and attempt.testpress_attempt_id is None:
        # Testpress's signed word; once given it is never replaced (matching sends a report
        # naming another Testpress attempt elsewhere).
        changes["testpress_attempt_id"] = report.testpress_attempt_id
    if AttemptStatus(attempt.status).moves_to(report.status):
        changes["status"] = report.status
    # Only an attempt taken outside the portal dates from Testpress's clock; a launch
    # keeps the time the student pressed Start.
    if report.started_at and attempt.institute_attempt_id is None and report.started_at != attempt.started_at:
        changes["started_at"] = report.started_at
    if report.completed_at and (attempt.completed_at is None or (report.source.signed and attempt.scored_at is None)):
        # The return's time is the portal's clock when the browser came back; Testpress's
        # own, once it gives one, replaces it.
        changes["completed_at"] = report.completed_at

    seen_column = f"{report.source}_seen_at"
    if getattr(attempt, seen_column) is None:
        changes[seen_column] = now

    result_changed = False
    if report.carries_result and not (echo and _passes_over(attempt, report)):
        result = _result_changes(attempt, report)
        result_changed = any(name in result for name in RESULT_FIELDS)
        changes |= result

    was_verified, score_before = attempt.score_source in SIGNED_SOURCES, attempt.score
    assign(attempt, changes)
    if report.carries_result and changes:  # a score confirmed (score_source alone) or changed
        notices.result_recorded(attempt, was_verified=was_verified, score_before=score_before)
    # An echo that changed the result (Testpress changing it back) is history too, and so is
    # Testpress saying again that an attempt is running after a return said it was over.
    repeat = echo and not result_changed and not _running_after_a_claimed_completion(attempt, report)
    return _keep_history(attempt, report, now, repeat) or bool(changes)


def _result_changes(attempt: Attempt, report: Report) -> dict:
    """What a completed report's result changes: all of it when it is to be believed over
    the result held, else only the fields still empty (the webhook carries no max score or
    rank; the return does, in either order)."""
    takes_over = _takes_over(attempt, report)
    changes = {
        name: value
        for name in RESULT_FIELDS
        if (value := getattr(report, name)) is not None
        and value != (current := getattr(attempt, name))
        and (takes_over or current is None)
    }
    if takes_over:
        if attempt.score_source != report.source:
            changes["score_source"] = report.source
        if report.source.signed and report.completed_at != attempt.scored_at:
            changes["scored_at"] = report.completed_at
    if report.source == ReportSource.API and attempt.needs_confirmation and (
            takes_over or _same_result(attempt, report)):
        changes["needs_confirmation"] = False  # the Admin API is the word that decides
    elif (report.source.signed and attempt.score_source in SIGNED_SOURCES
          and not _same_result(attempt, report) and not _ordered(attempt, report)):
        # Two signed results that disagree, with nothing to say which is the later: the
        # latest to arrive is shown meanwhile, and the next sync asks the Admin API.
        changes["needs_confirmation"] = True
    return changes


def _takes_over(attempt: Attempt, report: Report) -> bool:
    """Whether `report`'s result replaces the one the attempt holds."""
    if report.source.signed and attempt.score_source in SIGNED_SOURCES and _ordered(attempt, report):
        # Testpress's own times say which of two signed results is the later, whichever of
        # the webhook and the Admin API sent each.
        return report.completed_at > attempt.scored_at
    trust = report.source.trust
    held = ReportSource(attempt.score_source).trust if attempt.score_source else 0
    if trust != held:
        return trust > held  # api >= webhook > return
    # Otherwise the later to arrive: an Admin API answer is the state at the moment it was
    # fetched, and an unordered webhook is held only until that answer confirms it.
    return True


def _ordered(attempt: Attempt, report: Report) -> bool:
    return (report.completed_at is not None and attempt.scored_at is not None
            and report.completed_at != attempt.scored_at)


def _repeats_an_earlier_report(attempt: Attempt, report: Report) -> bool:
    """Whether the same source already reported this very result: a duplicate delivery, a
    late copy of an earlier one, or Testpress changing a result back. (Compared within the
    same status: a late "started" between two copies of one completion changes nothing.)"""
    return any(r.source == report.source and r.status == report.status
               and _same_result(r, report) and _same_id(r, report)
               for r in attempt.reports)


def _passes_over(attempt: Attempt, report: Report) -> bool:
    """Whether a report repeating an earlier one from its source is passed over: a late copy,
    which must not roll back a re-evaluation, or the Admin API confirming what is held. The
    Admin API's answer is otherwise the state when it was fetched, and a webhook Testpress
    dated later than the result held is a later word: either may be Testpress changing a
    result back."""
    if report.source == ReportSource.API:
        return not attempt.needs_confirmation and _same_result(attempt, report)
    return not (_ordered(attempt, report) and report.completed_at > attempt.scored_at)


def _running_after_a_claimed_completion(attempt: Attempt, report: Report) -> bool:
    """Whether a signed report says the attempt is still running while only a browser
    return (whose status the student can edit) has said it is completed."""
    if not (report.source.signed and report.status == AttemptStatus.STARTED
            and attempt.status == AttemptStatus.COMPLETED and attempt.score_source == ReportSource.RETURN):
        return False
    # Once in the history after the claim is enough: a sync asking again adds nothing.
    claimed = max(i for i, r in enumerate(attempt.reports) if r.source == ReportSource.RETURN)
    return not any(r.source in SIGNED_SOURCES and r.status == AttemptStatus.STARTED
                   for r in attempt.reports[claimed + 1:])


def _contradicts_an_earlier_return(attempt: Attempt, report: Report) -> bool:
    """Whether a return names another Testpress attempt, or other scores, than an earlier return did."""
    earlier = [r for r in attempt.reports if r.source == ReportSource.RETURN]
    return any(not _same_id(r, report) for r in earlier) or (report.carries_result and any(
        r.status == AttemptStatus.COMPLETED and r.score is not None and not _same_result(r, report) for r in earlier
    ))


def _same_id(a, b) -> bool:
    return not (a.testpress_attempt_id and b.testpress_attempt_id) or a.testpress_attempt_id == b.testpress_attempt_id


def _keep_history(attempt: Attempt, report: Report, now: datetime, repeat: bool) -> bool:
    """Append `report` to the attempt's history unless it `repeat`s an earlier one, and then
    reassess the flag; answer whether it was appended."""
    if repeat:
        return False
    if report.source == ReportSource.RETURN:
        returns = [r for r in attempt.reports if r.source == ReportSource.RETURN]
        if len(returns) >= 2:
            # The first return and the latest are kept; the one between is counted and
            # forgotten, so that an attempt holds two returns however often one is replayed.
            attempt.reports.remove(returns[-1])
            attempt.other_returns = (attempt.other_returns or 0) + 1
    fields = {"source": report.source, "status": report.status, "testpress_attempt_id": report.testpress_attempt_id,
              "received_at": now, **report.result()}
    append(attempt, "reports", new_object(AttemptReport, **fields))
    # Only a new report, or a new claim, can change what the reports say. (So a flag
    # stored by some other rule stays until the attempt's next new report.)
    _flag_disagreement(attempt)
    return True


def _flag_disagreement(attempt: Attempt) -> None:
    """Flag the attempt when its browser returns tell another story than Testpress, or than
    each other (the return's hmac covers neither its scores nor its Testpress id).

    A return matching *any* signed report (not just the latest) is genuine, so that it is
    not flagged after Testpress re-evaluates the attempt. A disagreement a staff member has
    settled (portal.attempts.flags) raises no flag again; a new one does.
    """
    found = _disagreements(attempt)
    settled = _settled(attempt)
    unsettled = [reason for key, reason in found.items() if key not in settled]
    if unsettled or not settled:
        assign(attempt, {"flagged": bool(unsettled), "flag_reason": " ".join(unsettled)[:300] or None})
    # Else every disagreement was settled: the flag stays down and its reason, as decided on, stays.


def _disagreements(attempt: Attempt) -> dict[str, str]:
    """Each disagreement among the attempt's reports, by a key naming the evidence (the
    returns and claims involved, never Testpress's result, which a re-evaluation changes),
    with the sentence staff read."""
    returns = [r for r in attempt.reports if r.source == ReportSource.RETURN]
    # Only a completed return's scores are a claim of the result: a cancelled or pending one
    # carries the partial counts of the moment it was sent.
    scored = [r for r in returns if r.status == AttemptStatus.COMPLETED and r.score is not None]
    signed = [r for r in attempt.reports if r.source in SIGNED_SOURCES and r.score is not None]
    claims = list(dict.fromkeys(r.testpress_attempt_id for r in returns if r.testpress_attempt_id))
    found = {}
    if len(claims) > 1:
        found[_key("claims", claims)] = (
            f"Browser returns named different Testpress attempts ({', '.join(claims)}).")
    elif claims and attempt.testpress_attempt_id and claims[0] != attempt.testpress_attempt_id:
        found[_key("claim", claims)] = (f"The browser return named Testpress attempt {claims[0]}, "
                                        f"but Testpress reported attempt {attempt.testpress_attempt_id}.")
    replays = [(first, r) for i, first in enumerate(scored) for r in scored[i + 1:] if not _same_result(first, r)]
    if replays:
        first, replayed = replays[0]
        more = f" ({attempt.other_returns + 1} returns with other values)" if attempt.other_returns else ""
        found[_key("replays", (_claim_key(r) for pair in replays for r in pair))] = (
            f"A browser return was replayed with score {replayed.score:g}; the first claimed {first.score:g}{more}.")
    # A completed return is the student's word that the attempt is over; Testpress's latest
    # signed word, after it, that it is still running (and no signed result yet): staff look.
    latest_signed = next((r for r in reversed(attempt.reports) if r.source in SIGNED_SOURCES), None)
    if (scored and not signed and latest_signed is not None and latest_signed.status == AttemptStatus.STARTED
            and attempt.reports.index(latest_signed) > attempt.reports.index(scored[0])):
        found[_key("running", map(_claim_key, scored))] = (
            f"The browser return said the attempt was completed with score {scored[-1].score:g}, but "
            f"Testpress reported it still in progress afterwards.")
    suspicious = [r for r in scored if signed and not any(_same_result(r, s) for s in signed)]
    if suspicious:
        claimed, trusted = suspicious[-1], signed[-1]
        found[_key("unsigned", map(_claim_key, suspicious))] = (
            f"The browser return claimed score {claimed.score:g} "
            f"({claimed.correct_count} correct), but Testpress reported "
            f"{trusted.score:g} ({trusted.correct_count} correct)."
        )
    return found


def settle_disagreements(attempt: Attempt) -> None:
    """Mark every disagreement the attempt's reports show now as settled by staff (the
    caller lowers the flag): only a new one raises it again."""
    found = set(_disagreements(attempt))
    if attempt.flag_reason == NO_RECORD_REASON:
        found.add(NO_RECORD)
    attempt.flag_settled = json.dumps(sorted(found))


# A score only the browser reported that Testpress never confirmed: see flag_no_record. The
# key has no evidence (the attempt is the evidence).
NO_RECORD = "no-record"
NO_RECORD_REASON = ("Testpress has no record of this attempt: its score is the browser return's alone, "
                    "and a sync covering its start found nothing.")


def flag_no_record(attempt: Attempt) -> bool:
    """Flag an attempt whose score only the browser reported, once Testpress's Admin API has
    been asked about its time and knows nothing of it (portal.testpress.sync); answer whether
    it was flagged now. Not over another flag, nor again once staff settled it. Testpress's
    word arriving later lowers it, as any new report reassesses the flag."""
    if attempt.flagged or attempt.verified or NO_RECORD in _settled(attempt):
        return False
    attempt.flagged, attempt.flag_reason = True, NO_RECORD_REASON
    return True


def _key(kind: str, evidence: Iterable[str]) -> str:
    """A disagreement's key, as attempts.flag_settled keeps it: its kind and the evidence (the
    claims or returns involved), so that the same disagreement seen again is the same key."""
    return f"{kind}:{','.join(sorted(set(evidence)))}"


def _settled(attempt: Attempt) -> set[str]:
    """The keys of the disagreements staff have settled on this attempt (settle_disagreements)."""
    return set(json.loads(attempt.flag_settled)) if attempt.flag_settled else set()


def _claim_key(report) -> str:
    """A return's claim, by what it claims: the same return again is the same claim."""
    return ":".join(str(getattr(report, name)) for name in ("testpress_attempt_id", *RESULT_FIELDS))


def _same_result(a, b) -> bool:
    """Compare the result fields both sides carry (a webhook has no rank, for instance)."""
    for name in RESULT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            continue
        if not math.isclose(float(x), float(y), abs_tol=0.005):
            return False
    return True
