"""The portal's domain vocabulary: an attempt's status, a report's source, an exam's state.

Each member's value is the string stored in the database (so a member compares equal to
what a column holds), and each carries the rules and words that belong to it, so that
reconciliation, matching, the launch, the models and the templates ask here rather than
spell statuses out.
"""

from __future__ import annotations

from enum import StrEnum

NOT_FINISHED = "This attempt has not been finished on Testpress yet."
# Whether Testpress vouches for an attempt's scores, in the words every page says it
# (portal.web.formatting.verification_badge): a score only the browser return reported is the
# student's to edit, and never stands anywhere without UNVERIFIED beside it.
VERIFIED = "Verified by Testpress"
UNVERIFIED = "Not yet verified by Testpress"
# A launch Testpress has not reported may never have reached it (Testpress down, the page not
# opening): resuming signs the same launch again (portal.attempts.launching.resume_or_launch),
# and a launch uses none of the attempts allowed until Testpress has seen it (grading.USED).
NOT_REPORTED = ("Testpress has not reported this attempt yet. If it did not open, press Resume to try again: "
                "it opens this same attempt, which uses none of the attempts allowed until Testpress has seen it.")


class AttemptStatus(StrEnum):
    """Where an attempt stands. Members are declared in the only order a status moves in."""

    # value, label for students, label for staff, resumable, open, note for students (see __new__)
    LAUNCHED = "launched", "In progress", "Launched", True, True, NOT_REPORTED
    STARTED = "started", "In progress", "Started on Testpress", True, True, NOT_FINISHED
    CANCELLED = "cancelled", "In progress", "Paused (Take later)", True, False, "You left this exam to take later."
    PENDING = "pending", "Awaiting result", "Awaiting result", False, False, (
        "Testpress is still evaluating this attempt. Your score will appear here once it is ready.")
    COMPLETED = "completed", "Completed", "Completed", False, False, ""

    order: int
    student_label: str
    staff_label: str
    resumable: bool
    is_open: bool
    student_note: str

    def __new__(cls, value: str, student_label: str, staff_label: str, resumable: bool, is_open: bool,
                student_note: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.order = len(cls.__members__)  # a status only moves to one of a higher order
        # Every unfinished attempt the student may pick up again reads the same, on every
        # page: "Take later" is a pause, not a cancellation. Staff see the precise state.
        member.student_label = student_label
        member.staff_label = staff_label
        # Starting the exam again re-signs such a launch rather than making a new one:
        # Testpress refuses to reuse only the id of a completed attempt (and a pending one
        # is completed, awaiting its evaluation).
        member.resumable = resumable
        # Being taken on Testpress now, as far as the portal knows (staff's "in progress"). A
        # paused ("Take later") attempt is not, though it is resumable: see UNFINISHED_STATUSES.
        member.is_open = is_open
        member.student_note = student_note
        return member

    def moves_to(self, other: str) -> bool:
        """Whether an attempt at this status takes `other` (status only moves forward)."""
        return AttemptStatus(other).order > self.order


RESUMABLE_STATUSES = tuple(status for status in AttemptStatus if status.resumable)
OPEN_STATUSES = tuple(status for status in AttemptStatus if status.is_open)
# A launch whose Testpress attempt has no result yet: running, or paused with "Take later"
# and perhaps resumed and finished since (resuming re-signs the same launch, so it is the
# same Testpress attempt). A report without the portal's reference may belong to one of
# these (portal.testpress.matching); it is the resumable ones, by the same reasoning.
UNFINISHED_STATUSES = RESUMABLE_STATUSES


class ReportSource(StrEnum):
    """Who reported an attempt. Trust decides whose result an attempt holds."""

    # value, trust, signed, label, meaning (see __new__)
    RETURN = "return", 1, False, "browser return", "what the student's browser sent back, not confirmed by Testpress"
    WEBHOOK = "webhook", 2, True, "webhook", "Testpress's own signed notice of the result"
    API = "api", 3, True, "Admin API", "Testpress's own record, asked for by the portal"

    trust: int
    signed: bool
    label: str
    meaning: str  # the label in staff words, shown beside it

    def __new__(cls, value: str, trust: int, signed: bool, label: str, meaning: str):
        member = str.__new__(cls, value)
        member._value_ = value
        # A report's result replaces one held from a less trusted source (api >= webhook > return).
        member.trust = trust
        # Covered by Testpress's signature or its Admin API's login; the return's hmac covers
        # neither its scores nor its Testpress id, so a student could have edited them.
        member.signed = signed
        member.label = label
        member.meaning = meaning
        return member


SIGNED_SOURCES = tuple(source for source in ReportSource if source.signed)


class ExamState(StrEnum):
    """Whether students can start an exam now (see models.Exam.state)."""

    ARCHIVED = "archived"
    UNPUBLISHED = "unpublished"
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


class CountingRule(StrEnum):
    """Which of a student's completed attempts at an exam counts (gradebook, exam card)."""

    # value, label, short label (the card's "Best: 14 / 20") (see __new__)
    BEST = "best", "Best attempt", "Best"
    LATEST = "latest", "Latest attempt", "Latest"
    FIRST = "first", "First attempt", "First"

    label: str
    short_label: str

    def __new__(cls, value: str, label: str, short_label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.short_label = short_label
        return member


class FlagResolution(StrEnum):
    """A staff member's decision on a flagged attempt (portal.attempts.flags)."""

    # value, label, what it means (see __new__)
    ACCEPTED = "accepted", "Signed score accepted", (
        "The score Testpress signed is this attempt's result; the browser return's claim is set aside.")
    DISMISSED = "dismissed", "Dismissed", "The flag was looked into and needs no action; the score held stands."

    label: str
    meaning: str

    def __new__(cls, value: str, label: str, meaning: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.meaning = meaning
        return member


class Labelled(StrEnum):
    """A stored word and its label for staff: members are written `NAME = "value", "Label"`."""

    label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member


class MailStatus(Labelled):
    """Where a message of the outbox stands (portal.mail.outbox). A message being sent is still
    queued, under a lease; one that failed goes back to queued only when staff retry it."""

    QUEUED = "queued", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not sent"


class MailKind(Labelled):
    """Why a message was written, for the outbox page's filter and staff's words."""

    SIGN_IN_LINK = "sign_in_link", "Sign-in link"
    RESULT_CONFIRMED = "result_confirmed", "Result confirmed"
    SCORE_CHANGED = "score_changed", "Score changed"
    STAFF_DIGEST = "staff_digest", "Staff digest"
    TEST = "test", "Test message"


class JobName(Labelled):
    """The worker's scheduled jobs (portal.jobs), each a row of `jobs` holding its lease."""

    SYNC = "sync", "Testpress sync"
    OUTBOX = "outbox", "Sending email"
    EXPIRE_IMPORTS = "expire_imports", "Deleting unconfirmed imports"
    DIGEST = "digest", "Staff digest"


JOB_OUTCOMES = ("ok", "failed")
