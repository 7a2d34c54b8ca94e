"""Flags as work items: a staff member resolves a flagged attempt, once, with a reason.

A flag (portal.attempts.reconciliation) says a browser return told another story than Testpress's
signed reports. Staff either accept the signed score (the score held is Testpress's signed
one, and the return's claim is set aside) or dismiss the flag with a note. Either way the
flag comes down, so the attempt leaves every flagged count (`WHERE flagged`); the decision,
its author, time and note stay on the attempt and in the audit log; and the disagreements
decided on are settled, so that the same report arriving again raises nothing while a new
disagreement raises the flag again.

The caller runs this in `portal.core.database.write_transaction` (the recording lock, so that a
report being recorded at the same moment is weighed after the decision, or before it) and
commits.
"""

from __future__ import annotations

from portal.attempts.reconciliation import settle_disagreements
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.refusals import DomainError
from portal.models import Attempt, User
from portal.vocabulary import FlagResolution

MAX_NOTE_LENGTH = Attempt.__table__.c.flag_note.type.length


def can_accept(attempt: Attempt) -> bool:
    """Whether "accept the signed score" means anything: the score held is a signed one."""
    return attempt.verified


def resolve_flag(attempt: Attempt, actor: User, resolution: FlagResolution | str, note: str = "") -> None:
    """Resolve `attempt`'s flag as `resolution`, by `actor`, with `note` (required to dismiss).

    Raises DomainError when the attempt is not flagged (someone resolved it a moment ago),
    when accepting without a signed score, or for a missing or over-long note.
    """
    resolution = FlagResolution(resolution)
    note = (note or "").strip()
    if not attempt.flagged:
        raise DomainError(None, "This attempt is not flagged (any more): someone may have resolved it a moment ago.")
    if resolution == FlagResolution.ACCEPTED and not can_accept(attempt):
        raise DomainError(None, "There is no signed score to accept yet: the score held is the browser return's. "
                        "Ask Testpress's Admin API first, or dismiss the flag with a note.")
    if resolution == FlagResolution.DISMISSED and not note:
        raise DomainError("note", "Say why the flag is dismissed: a note is required.")
    if len(note) > MAX_NOTE_LENGTH:
        raise DomainError("note", f"Keep the note within {MAX_NOTE_LENGTH} characters.")
    before = {"flagged": True, "flag_reason": attempt.flag_reason}
    settle_disagreements(attempt)
    attempt.flagged = False
    attempt.flag_resolution = resolution
    attempt.flag_resolved_by_id = actor.id
    attempt.flag_resolved_at = utcnow()
    attempt.flag_note = note or None
    score = f" (score {attempt.score:g}, {attempt.score_source})" if attempt.score is not None else ""
    audit.record(actor, f"flag.{resolution}", "attempt", attempt.id,
                 f"{resolution.label}: attempt {attempt.id}{score}" + (f": {note}" if note else ""),
                 before=before,
                 after={"flagged": False, "flag_resolution": str(resolution), "flag_note": note or None,
                        "score": attempt.score, "score_source": attempt.score_source})
