"""The sandbox's storage: exams, Testpress users, attempts and the webhook delivery log."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)

MARKS_CORRECT = 4
MARKS_WRONG = -1

RUNNING, COMPLETED, NOT_STARTED = "Running", "Completed", "Not Started"


def utcnow() -> datetime:
    """Naive UTC, as SQLite stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(moment: datetime | None) -> str | None:
    """Testpress's timestamp style: ISO 8601 in UTC with microseconds and a Z."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def clock(seconds: int | float) -> str:
    """A duration as Testpress prints it, e.g. ``0:30:00``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Exam(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    duration_minutes: Mapped[int] = mapped_column(default=30)
    start_date: Mapped[datetime] = mapped_column(default=utcnow)
    end_date: Mapped[datetime | None]
    # An exam with subjective parts: a submit answers "pending" until staff evaluate it.
    manual_evaluation: Mapped[bool] = mapped_column(default=False)

    questions: Mapped[list[Question]] = relationship(order_by="Question.position", back_populates="exam")

    @property
    def max_score(self) -> int:
        return MARKS_CORRECT * len(self.questions)

    @property
    def duration(self) -> str:
        return clock(self.duration_minutes * 60)


class Question(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exam.id"), index=True)
    position: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text)
    options: Mapped[list[str]] = mapped_column(sa.JSON)
    correct_option: Mapped[int]

    exam: Mapped[Exam] = relationship(back_populates="questions")


class User(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(150), default="")
    is_staff: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attempt(db.Model):
    __table_args__ = (sa.Index("ix_attempt_exam_state_score", "exam_id", "state", "score"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(sa.ForeignKey("exam.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), index=True)
    institute_attempt_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=RUNNING)
    # Submitted, but the score waits for staff to evaluate it.
    evaluation_pending: Mapped[bool] = mapped_column(default=False)
    date: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    last_answer_updated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    # What the launch brought: the return is signed with the launch's time and sent to its surl.
    launch_time: Mapped[str | None] = mapped_column(sa.String(20))
    surl: Mapped[str | None] = mapped_column(sa.Text)
    take_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    return_status: Mapped[str | None] = mapped_column(sa.String(16))

    answers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    total_count: Mapped[int] = mapped_column(default=0)
    correct_answers_count: Mapped[int] = mapped_column(default=0)
    incorrect_answers_count: Mapped[int] = mapped_column(default=0)
    unanswered_count: Mapped[int] = mapped_column(default=0)
    score: Mapped[int] = mapped_column(default=0)
    max_score: Mapped[int] = mapped_column(default=0)

    exam: Mapped[Exam] = relationship()
    user: Mapped[User] = relationship()

    @property
    def is_submitted(self) -> bool:
        return self.state == COMPLETED or self.evaluation_pending

    @property
    def score_text(self) -> str:
        return marks_text(self.score)

    @property
    def percentage_text(self) -> str:
        return percentage_text(self.score, self.max_score)


def marks_text(marks: int) -> str:
    """Scores travel as text with two decimals, e.g. "163.00"."""
    return f"{marks:.2f}"


def percentage_text(score: int, max_score: int) -> str:
    if not max_score:
        return "0.00"
    percentage = Decimal(score) * 100 / Decimal(max_score)
    return str(percentage.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class WebhookDelivery(db.Model):
    """One try at delivering one webhook: the log staff read at /sandbox/webhooks."""

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(sa.String(16))
    attempt_id: Mapped[int]
    url: Mapped[str] = mapped_column(sa.Text)
    try_number: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[str] = mapped_column(sa.Text)
