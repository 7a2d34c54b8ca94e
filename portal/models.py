"""The portal's tables: people, exams, attempts and what Testpress reported about them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.results import RESULT_FIELDS, SIGNED_FIELDS
from portal.vocabulary import (
    JOB_OUTCOMES,
    SIGNED_SOURCES,
    AttemptStatus,
    CountingRule,
    ExamState,
    FlagResolution,
    JobName,
    MailKind,
    MailStatus,
    ReportSource,
)


def one_of(column: str, words: Iterable[str]) -> sa.CheckConstraint:
    """A CHECK that `column` holds one of `words` (or NULL), named ck_<table>_<column>.

    The database refuses any other word, whoever writes it (a migration's SQL, a script),
    where a typo would otherwise be a status no page knows how to show.
    """
    return sa.CheckConstraint(sa.column(column).in_([str(word) for word in words]), name=column)


# Who is in which batch, and which batches an exam is for (an exam with none is for everyone).
batch_members = sa.Table(
    "batch_members", db.metadata,
    sa.Column("batch_id", sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)
exam_batches = sa.Table(
    "exam_batches", db.metadata,
    sa.Column("exam_id", sa.ForeignKey("exams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("batch_id", sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Batch(db.Model):
    """A group of students (a class, a course, a timing) that exams can be offered to."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]  # hidden from the pickers; members and history kept

    members: Mapped[list[User]] = relationship(secondary=batch_members, back_populates="batches",
                                               order_by="User.name")

    def __repr__(self) -> str:
        return f"<Batch {self.name!r}>"


class User(UserMixin, db.Model):
    """A student or, with `is_staff`, a member of the institute's staff."""

    __tablename__ = "users"
    # The people list's order, and its keyset pages' seek ("the 50 after this name and id").
    __table_args__ = (sa.Index("ix_users_name_id", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_staff: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # Testpress's own id for this person, learnt from a webhook or the Admin API.
    testpress_user_id: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of every session's and remember-me cookie's user id: raising it ends them all.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    attempts: Mapped[list[Attempt]] = relationship(back_populates="student")
    batches: Mapped[list[Batch]] = relationship(secondary=batch_members, back_populates="members",
                                                order_by="Batch.name")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses to log in an inactive user
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie (see auth.load_user)."""
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Make every cookie issued so far, on every device, stop authenticating (the caller commits)."""
        # Computed by the database, so that two concurrent bumps both count.
        self.session_version = User.session_version + 1

    def set_password(self, password_hash: str) -> None:
        """A new password, which ends every session opened with the old one and spends every
        password link still open: a link was for a password that no longer holds, and left
        working it would let whoever held it take the account back (the caller commits)."""
        self.password_hash = password_hash
        self.end_sessions()
        self.spend_password_links()

    def spend_password_links(self) -> None:
        """Spend every password link of this person still open: a new password, or a new link
        (portal.people.password_links.issue_link), replaces them (the caller commits)."""
        db.session.execute(sa.update(PasswordLink)
                           .where(PasswordLink.user_id == self.id, PasswordLink.used_at.is_(None))
                           .values(used_at=utcnow()))

    def set_active(self, active: bool) -> None:
        self.active = active
        if not active:
            self.end_sessions()

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Exam(db.Model):
    """An exam hosted on Testpress, offered to students through the portal."""

    __tablename__ = "exams"
    __table_args__ = (one_of("counting_rule", CountingRule), sa.Index("ix_exams_title", "title", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    exam_url: Mapped[str] = mapped_column(sa.String(500))  # pasted from Testpress's dashboard
    testpress_id: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    published: Mapped[bool] = mapped_column(default=True)
    # Hidden from students for good, its attempts and results kept (an exam with attempts is
    # archived rather than deleted).
    archived_at: Mapped[datetime | None]
    instructions: Mapped[str] = mapped_column(sa.Text, default="", server_default="")  # shown before Start
    attempts_allowed: Mapped[int | None]  # per student; None is unlimited
    counting_rule: Mapped[str] = mapped_column(sa.String(8), default=CountingRule.BEST,
                                               server_default=CountingRule.BEST.value)  # a CountingRule
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    attempts: Mapped[list[Attempt]] = relationship(back_populates="exam")
    batches: Mapped[list[Batch]] = relationship(secondary=exam_batches, order_by="Batch.name")

    def is_upcoming(self, now: datetime) -> bool:
        return self.opens_at is not None and now < self.opens_at

    def is_closed(self, now: datetime) -> bool:
        return self.closes_at is not None and now >= self.closes_at

    def can_start(self, now: datetime) -> bool:
        return self.state(now) == ExamState.OPEN

    def state(self, now: datetime) -> ExamState:
        if self.archived_at is not None:
            return ExamState.ARCHIVED
        if not self.published:
            return ExamState.UNPUBLISHED
        if self.is_upcoming(now):
            return ExamState.UPCOMING
        return ExamState.CLOSED if self.is_closed(now) else ExamState.OPEN

    def __repr__(self) -> str:
        return f"<Exam {self.title!r}>"


class ResultColumns:
    """The documented result fields, as columns (mixed into Attempt and AttemptReport), in
    the order of portal.results.RESULT_FIELDS (tests/attempts/test_results.py checks it)."""

    total_count: Mapped[int | None]
    correct_count: Mapped[int | None]
    incorrect_count: Mapped[int | None]
    unanswered_count: Mapped[int | None]
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    percentage: Mapped[float | None]
    rank: Mapped[int | None]
    max_rank: Mapped[int | None]


# The condition of a flagged attempt, as the partial index ix_attempts_exam_flagged holds it.
_FLAGGED = sa.column("flagged").is_(True)


class Attempt(ResultColumns, db.Model):
    """One attempt at an exam: a launch from the portal, or one Testpress told us of.

    The result fields hold the most trusted scores seen so far; `score_source` says
    where they came from, and `reports` keeps every distinct report of every source.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        sa.Index("ix_attempts_student_started", "student_id", "started_at"),
        # The staff table's orders and filters, each ending in the tie-break its keyset pages
        # by (portal.attempts.listing), and MAX(percentage) per exam as one index seek (dashboard).
        sa.Index("ix_attempts_exam_status_percentage", "exam_id", "status", "percentage"),
        # student_id too: a batch's or a name's attempts are picked out of the start order
        # from the index alone, without reading each other student's row.
        sa.Index("ix_attempts_started", "started_at", "id", "student_id"),
        sa.Index("ix_attempts_exam_started", "exam_id", "started_at", "id"),
        sa.Index("ix_attempts_status_started", "status", "started_at", "id"),
        sa.Index("ix_attempts_source_started", "score_source", "started_at", "id"),
        sa.Index("ix_attempts_flagged_started", "flagged", "started_at", "id"),
        # An exam's flagged attempts alone (the exam report counts them), so that the count reads
        # as many entries as it finds, not the exam's every attempt. SQLite uses a partial index
        # only for a query whose WHERE says the index's condition as written: `flagged IS true`,
        # as Attempt.flagged.is_(True) renders it, on both databases.
        sa.Index("ix_attempts_exam_flagged", "exam_id", sqlite_where=_FLAGGED, postgresql_where=_FLAGGED),
        sa.Index("ix_attempts_percentage", "percentage", "id"),
        sa.Index("ix_attempts_status_percentage", "status", "percentage", "id"),
        one_of("status", AttemptStatus),
        one_of("score_source", ReportSource),
        one_of("flag_resolution", FlagResolution),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # active_history: portal.exams.stats needs the value an update replaces, loaded if expired.
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id"), active_history=True)
    # The portal's reference for a launch; None for an attempt taken outside the portal.
    institute_attempt_id: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)
    launch_time: Mapped[int | None] = mapped_column(sa.BigInteger)  # epoch seconds signed
    # Testpress's attempt id as a signed source (webhook, Admin API) gave it: only Testpress's
    # own word may occupy this unique key.
    testpress_attempt_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    # The id the browser return named, outside its hmac: a claim, never a key. It only helps a
    # signed report of the same student and exam find this attempt.
    claimed_testpress_attempt_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=AttemptStatus.LAUNCHED,
                                        active_history=True)  # an AttemptStatus
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    score_source: Mapped[str | None] = mapped_column(sa.String(16), active_history=True)  # a ReportSource
    percentage: Mapped[float | None] = mapped_column(active_history=True)  # (of ResultColumns)
    # Testpress's own time for the signed result held (a payload's completed_on), to order re-evaluations.
    scored_at: Mapped[datetime | None]
    # Two signed reports disagree and nothing orders them: the Admin API decides at the next sync.
    needs_confirmation: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    flagged: Mapped[bool] = mapped_column(default=False)  # a return disagreed with Testpress
    flag_reason: Mapped[str | None] = mapped_column(sa.String(300))
    # A staff member's decision on the flag (portal.attempts.flags): the latest one, with its author,
    # time and note; every decision is also in the audit log.
    flag_resolution: Mapped[str | None] = mapped_column(sa.String(16))  # a FlagResolution
    # No foreign key on purpose: a second one from attempts to users would make every plain
    # join between the two tables ambiguous. People are deactivated, never deleted, and the
    # audit entry of the decision keeps its author with a foreign key.
    flag_resolved_by_id: Mapped[int | None]
    flag_resolved_at: Mapped[datetime | None]
    flag_note: Mapped[str | None] = mapped_column(sa.String(500))
    # The disagreements that decision settled, as JSON keys (portal.attempts.reconciliation): the same
    # disagreement reported again does not raise the flag, a new one does.
    flag_settled: Mapped[str | None] = mapped_column(sa.Text)
    # Browser returns with other values, received between the first and the latest kept in
    # the history and then forgotten (portal.attempts.reconciliation keeps those two): a replayed
    # return costs a counter, never a row, so no report's work grows with replays.
    other_returns: Mapped[int] = mapped_column(default=0, server_default="0")
    return_seen_at: Mapped[datetime | None]
    webhook_seen_at: Mapped[datetime | None]
    api_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    student: Mapped[User] = relationship(back_populates="attempts")
    exam: Mapped[Exam] = relationship(back_populates="attempts")
    flag_resolved_by: Mapped[User | None] = relationship(
        primaryjoin="foreign(Attempt.flag_resolved_by_id) == User.id", viewonly=True)
    reports: Mapped[list[AttemptReport]] = relationship(
        back_populates="attempt", order_by="AttemptReport.id", cascade="all, delete-orphan"
    )

    @property
    def verified(self) -> bool:
        """True when the scores come from a signed or authenticated source."""
        return self.score_source in SIGNED_SOURCES

    @property
    def has_scores(self) -> bool:
        return self.score is not None

    @property
    def claimed_fields(self) -> tuple[str, ...]:
        """The result fields a verified result holds that its signed source never reports
        (a webhook has no max score or rank): the browser return's, which the student could
        have edited. Empty for an unverified result, every field of which is a claim."""
        if not self.verified:
            return ()
        signed = SIGNED_FIELDS[self.score_source]
        return tuple(name for name in RESULT_FIELDS if name not in signed and getattr(self, name) is not None)

    @property
    def reviewable(self) -> bool:
        """Testpress shows a review of a finished attempt it has reported: completed, with the
        Testpress id a signed report gave (a pending one is still being marked), and launched
        from the portal. "Review exam attempt by HMAC" signs the portal's institute_attempt_id
        beside Testpress's id (CONTRACT.md section 3): an attempt taken on Testpress directly
        has none, so Testpress has nothing to check the signature against; its student
        reviews it on Testpress, where they took it."""
        return (self.status == AttemptStatus.COMPLETED and self.testpress_attempt_id is not None
                and self.institute_attempt_id is not None)

    def __repr__(self) -> str:
        return f"<Attempt {self.id} {self.status}>"


class ExamStats(db.Model):
    """Running counts of one exam's attempts at one status, kept by portal.exams.stats.

    Updated in the transaction that inserts or changes an attempt, so that the dashboard
    reads a few rows instead of every attempt; `flask rebuild-exam-stats` recounts them.
    """

    __tablename__ = "exam_stats"
    __table_args__ = (one_of("status", AttemptStatus),)

    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # an AttemptStatus
    attempts: Mapped[int] = mapped_column(default=0)
    scored: Mapped[int] = mapped_column(default=0)  # of them with a signed percentage
    percentage_sum: Mapped[float] = mapped_column(default=0.0)  # of their percentages


class AttemptReport(ResultColumns, db.Model):
    """One distinct report of an attempt by one source: the attempt's history."""

    __tablename__ = "attempt_reports"
    __table_args__ = (one_of("source", ReportSource), one_of("status", AttemptStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("attempts.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # a ReportSource
    status: Mapped[str] = mapped_column(sa.String(16))  # an AttemptStatus
    testpress_attempt_id: Mapped[str | None] = mapped_column(sa.String(32))  # as this report named it
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    attempt: Mapped[Attempt] = relationship(back_populates="reports")


class WebhookDelivery(db.Model):
    """The log of every webhook POST received, verified or not (never its secrets)."""

    __tablename__ = "webhook_deliveries"
    # The webhook log filters by outcome, newest first; the dashboard counts the last day's refused deliveries.
    __table_args__ = (sa.Index("ix_webhook_deliveries_outcome_id", "outcome", "id"),
                      sa.Index("ix_webhook_deliveries_outcome_received", "outcome", "received_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    verified: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # recorded, unchanged, unmatched, rejected
    reason: Mapped[str | None] = mapped_column(sa.String(300))
    attempt_state: Mapped[str | None] = mapped_column(sa.String(16))
    testpress_attempt_id: Mapped[str | None] = mapped_column(sa.String(32))
    attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attempts.id"))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    # The body as received, as JSON without its `hash` (portal.web.testpress.webhook.stored_payload);
    # a refused body's first few KiB only.
    payload: Mapped[str | None] = mapped_column(sa.Text)

    attempt: Mapped[Attempt | None] = relationship()


class UnmatchedReport(db.Model):
    """A verified report of an attempt whose student or exam the portal does not know."""

    __tablename__ = "unmatched_reports"
    __table_args__ = (sa.UniqueConstraint("source", "testpress_attempt_id"), one_of("source", SIGNED_SOURCES))

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # a signed ReportSource
    testpress_attempt_id: Mapped[str] = mapped_column(sa.String(32))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    testpress_user_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    testpress_exam_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(300))
    payload: Mapped[str] = mapped_column(sa.Text)  # the report as JSON, without its hash
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# A run without a lease (a staff member's one-attempt question, seconds long) still running
# after this has lost its process (a killed worker): it is shown, then closed, as failed.
UNLEASED_RUN_LIMIT = timedelta(minutes=5)


class SyncRun(db.Model):
    """One run of the sync (the command, cron or Sync now): its window, its counts, how far it got.

    At most one runs at a time across every worker and server: a running sync holds
    `running_slot` = 1, which is unique (NULLs are not), and renews `lease_until` with each
    page; one whose lease ran out (its worker died) is taken over (portal.testpress.sync).
    """

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), default="running")  # running, ok, failed
    since: Mapped[datetime | None]
    exam_filter: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The latest attempt start time this run has stored: the next run resumes from here.
    high_water: Mapped[datetime | None]
    new: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    unmatched: Mapped[int] = mapped_column(default=0)
    flagged: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    running_slot: Mapped[int | None] = mapped_column(unique=True)
    lease_until: Mapped[datetime | None]
    pages_done: Mapped[int] = mapped_column(default=0, server_default="0")
    expected: Mapped[int | None]  # attempts in the window, as Testpress's first page counted them
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    started_by: Mapped[User | None] = relationship()

    def stalled(self, now: datetime) -> bool:
        """Still running, but its process is gone: a run holding the slot whose lease ran out
        (the next run takes over), or one without a lease (one attempt asked for, which
        takes seconds) older than UNLEASED_RUN_LIMIT."""
        if self.status != "running":
            return False
        if self.lease_until is None:
            return self.started_at is not None and self.started_at < now - UNLEASED_RUN_LIMIT
        return self.running_slot is not None and self.lease_until < now

    @property
    def attempts_done(self) -> int:
        return self.new + self.updated + self.unchanged + self.unmatched


class RateLimitCounter(db.Model):
    """One throttling counter (a login limit's window for one account or address).

    Kept in the database so that every worker and every app server counts the same
    guesses; `portal.core.ratelimit` is the only code that reads or writes it.
    """

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(index=True)  # naive UTC; the window ends here


class PasswordLink(db.Model):
    """A one-time link to set a password: single use, short-lived, kept only as a hash."""

    __tablename__ = "password_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token in the link: a copy of the database opens no account.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The CSV import that issued it, if one did: that import's page emails its people new links.
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("people_imports.id", ondelete="SET NULL"),
                                                  index=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class AuditEntry(db.Model):
    """One staff action that changed data: who, what, when, the values before and after.

    Written by portal.core.audit.record in the action's own transaction, never with a secret.
    """

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(40), index=True)  # "person.create", "exam.publish"…
    target_type: Mapped[str] = mapped_column(sa.String(20))  # "person", "batch", "exam", "attempt", "import"
    target_id: Mapped[int | None]
    summary: Mapped[str] = mapped_column(sa.String(300))  # one line for the list
    before: Mapped[str | None] = mapped_column(sa.Text)  # JSON of the changed fields, or None
    after: Mapped[str | None] = mapped_column(sa.Text)

    actor: Mapped[User | None] = relationship()


class PeopleImport(db.Model):
    """An uploaded CSV of people between its preview and its confirmation (portal.people.importing).

    `csv_text` may hold passwords, so it is kept only while the import waits: confirming
    deletes it, and a waiting import older than a day is deleted. A confirmed import keeps
    the rows it did not write, without their passwords, to be downloaded and fixed.
    """

    __tablename__ = "people_imports"
    __table_args__ = (one_of("status", ("pending", "confirmed")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    csv_text: Mapped[str | None] = mapped_column(sa.Text)  # the upload, until confirmed or expired
    confirmed_at: Mapped[datetime | None]
    created_count: Mapped[int | None]  # people written by the confirmation
    leftover_csv: Mapped[str | None] = mapped_column(sa.Text)  # rows not written, passwords blanked

    created_by: Mapped[User | None] = relationship()


class Standing(db.Model):
    """A student's standing at one exam: the attempt that counts by the exam's rule, and the
    attempts made. Derived from `attempts`, never written by hand: portal.attempts.standings keeps
    it current in every transaction that changes an attempt, so that the gradebook and an
    exam report read one row per student and exam however many attempts there are.
    """

    __tablename__ = "standings"
    __table_args__ = (sa.Index("ix_standings_exam_percentage", "exam_id", "percentage"),)

    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exams.id", ondelete="CASCADE"), primary_key=True)
    attempts_used: Mapped[int]
    # The counting attempt and its result; all None while no attempt of the pair is scored.
    attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attempts.id", ondelete="SET NULL"))
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    percentage: Mapped[float | None]
    score_source: Mapped[str | None] = mapped_column(sa.String(16))  # a ReportSource
    flagged: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[datetime | None]
    # The pair's latest score only the browser return reported: pending, it counts for nothing
    # (portal.attempts.grading) and the pages show it apart, with what it claims.
    pending_attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attempts.id", ondelete="SET NULL"))

    @property
    def verified(self) -> bool:
        return self.score_source in SIGNED_SOURCES


class Flushed(NamedTuple):
    """The attempts and exams one flush writes, by what happens to them (see `flushed`)."""

    new: list[Attempt]
    dirty: list[Attempt]  # changed, a report appended, or only marked so
    deleted: list[Attempt]
    exams: list[Exam]  # changed exams already stored

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return (*self.new, *self.dirty, *self.deleted)


_FLUSHED = "portal_flushed"
_INSERTED = "portal_inserted_attempts"


def flushed(session: sa.orm.Session, flush_context) -> Flushed:
    """What a flush writes of attempts and exams, for the after_flush hooks that keep the
    standings and the exams' counts current (portal.attempts.standings, portal.exams.stats):
    sorted out once per flush and kept in its context, rather than by each hook walking the
    session (its `dirty` is computed from the identity map at each reading). New attempts
    inserted in bulk since the last flush (`inserted_in_bulk`) are among the new."""
    found = flush_context.attributes.get(_FLUSHED)
    if found is None:
        dirty = session.dirty
        found = Flushed([*session.info.pop(_INSERTED, ()),
                         *(instance for instance in session.new if isinstance(instance, Attempt))],
                        [instance for instance in dirty if isinstance(instance, Attempt)],
                        [instance for instance in session.deleted if isinstance(instance, Attempt)],
                        [instance for instance in dirty if isinstance(instance, Exam) and instance.id is not None])
        flush_context.attributes[_FLUSHED] = found
    return found


def inserted_in_bulk(session: sa.orm.Session, attempts: Iterable[Attempt]) -> None:
    """Count `attempts`, just inserted by a bulk statement rather than by the flush, as new
    in the session's next flush: its hooks then derive the standings and the exams' counts
    from them and from whatever else it writes, in one statement each (the rows of exam_stats
    locked in one order, as a single flush locks them). The caller's transaction must flush
    again before it commits (something else changed), and a rollback forgets them."""
    session.info.setdefault(_INSERTED, []).extend(attempts)


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _forget_inserted(session: sa.orm.Session, previous_transaction) -> None:
    session.info.pop(_INSERTED, None)


@sa.event.listens_for(sa.orm.Session, "before_commit")
def _refuse_unflushed_insertions(session: sa.orm.Session) -> None:
    # before_commit runs before the commit's own flush: only a session with nothing left to
    # flush could commit attempts whose standings and counts no hook has seen.
    if session.info.get(_INSERTED) and not (session.new or session.dirty or session.deleted):
        session.info.pop(_INSERTED)
        raise RuntimeError("attempts inserted in bulk with nothing else to flush: the flush hooks never saw them")


class OutboxMessage(db.Model):
    """One email, written in the same transaction as what caused it and sent after the commit
    by the worker (portal.mail.outbox): a row is never lost, and is sent once but for a retry
    after an unknown outcome, which keeps its Message-ID.

    The bodies may hold a one-time link's token, so they are kept only until the message is
    sent; a sent message keeps its recipient, subject and times.
    """

    __tablename__ = "outbox"
    __table_args__ = (one_of("status", MailStatus), one_of("kind", MailKind),
                      sa.Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the message is for ("sign_in_link:<link id>"): the same cause never queues two.
    idempotency_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    message_id: Mapped[str] = mapped_column(sa.String(200))  # derived from the key: one per message
    kind: Mapped[str] = mapped_column(sa.String(20))
    to_address: Mapped[str] = mapped_column(sa.String(254))
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_text: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # When it was queued, or last retried by staff: MAIL_GIVE_UP_AFTER counts from here.
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A sender holds the message while it tries it; one whose lease ran out died mid-send.
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(32))
    tries: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))  # the server's answer, or what failed
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]

    recipient: Mapped[User | None] = relationship()


class JobRun(db.Model):
    """A scheduled job of the worker (portal.jobs): when it last ran, how it ended, and the lease
    its runner holds, so that of two workers one runs it, and a dead one's run is taken over."""

    __tablename__ = "jobs"
    __table_args__ = (one_of("name", JobName), one_of("outcome", JOB_OUTCOMES))

    name: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    lease_until: Mapped[datetime | None]
    holder: Mapped[str | None] = mapped_column(sa.String(64))  # the worker running it: host and process
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(10))
    error: Mapped[str | None] = mapped_column(sa.String(500))
