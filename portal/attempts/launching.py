"""The launch: recording a student's start of an exam, within the attempts its rules allow.

The form that carries the student to Testpress is signed in portal.testpress.launch.

CONTRACT.md section 1. Each launch gets a fresh numeric `institute_attempt_id` that must
stay unique forever, even if the portal's database is recreated, because Testpress refuses
to reuse the id of a completed attempt. A database sequence alone restarts at 1 after a
rebuild, so the id is drawn from the clock (epoch milliseconds x 1000 plus a random
0-999) and never below the largest id already stored.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.attempts.grading import attempts_used
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.models import Attempt, Exam, User
from portal.vocabulary import AttemptStatus

# Two launches in the same millisecond draw from 1,000 values, so a collision is rare and
# a few retries make it vanishingly so; more would hide a real fault (a broken clock).
ID_ATTEMPTS = 5


class LaunchFailed(RuntimeError):
    """No unique institute_attempt_id could be stored (repeated collisions)."""


class AttemptsUsedUp(Exception):
    """The student has made every attempt the exam allows; nothing was recorded."""

    def __init__(self, exam: Exam, used: int):
        allowed = exam.attempts_allowed
        super().__init__(f"You have used {'your only attempt' if allowed == 1 else f'all {allowed} attempts'} "
                         f"allowed at “{exam.title}”, so it cannot be started again.")
        self.used = used


def clock_attempt_id(now_ms: int, floor: int = 0) -> int:
    """A launch reference from the clock, with randomness, and never at or below `floor`."""
    return max(now_ms * 1000 + secrets.randbelow(1000), floor + 1)


def record_launch(student: User, exam: Exam, now: datetime | None = None) -> Attempt:
    """Store a new "launched" attempt for `student` at `exam`, and commit it.

    It commits (rather than leaving that to the caller) because the row must be durable
    before the signed form leaves the portal: the return is verified against it. Raises
    LaunchFailed if no unique id could be stored after a few draws, and DatabaseBusy.
    """
    with write_transaction(keys=launch_keys(student)):
        return _new_launch(student, exam, now)


def launch_keys(student: User) -> list:
    """What a launch decides on: the student's attempts, and the next launch reference, drawn
    from the largest one stored (two launches at once would draw the same one)."""
    return [("student", student.id), ("launch reference", 0)]


def _new_launch(student: User, exam: Exam, now: datetime | None) -> Attempt:
    moment = now or datetime.now(UTC)
    for _ in range(ID_ATTEMPTS):
        largest = db.session.scalar(sa.select(sa.func.max(Attempt.institute_attempt_id))) or 0
        attempt = Attempt(
            student_id=student.id,
            exam_id=exam.id,
            institute_attempt_id=clock_attempt_id(int(moment.timestamp() * 1000), largest),
            launch_time=int(moment.timestamp()),
            started_at=moment.astimezone(UTC).replace(tzinfo=None),
            status=AttemptStatus.LAUNCHED,
        )
        try:
            with db.session.begin_nested():  # a collision undoes this draw only
                db.session.add(attempt)
        except IntegrityError:
            continue
        return attempt
    raise LaunchFailed(f"could not store a unique institute_attempt_id after {ID_ATTEMPTS} tries")


def resumable(attempt: Attempt | None) -> bool:
    """Whether starting the exam again signs `attempt` again rather than a new launch.

    Reusing the id is what brings the student back to their answers instead of a blank new
    attempt; only the portal's own launches have one (see AttemptStatus.resumable).
    """
    return (attempt is not None and AttemptStatus(attempt.status).resumable
            and attempt.institute_attempt_id is not None)


# Built once: a fresh window subquery per call cost twice as long to build and compile
# again as the query took to run, on every exam list and every Start.
_ranked = (
    sa.select(
        Attempt.id,
        sa.func.row_number()
        .over(partition_by=Attempt.exam_id, order_by=(Attempt.started_at.desc(), Attempt.id.desc()))
        .label("recency"),
    )
    .where(Attempt.student_id == sa.bindparam("student_id"),
           Attempt.exam_id.in_(sa.bindparam("exam_ids", expanding=True)))
    .subquery()
)
LATEST_ATTEMPTS = sa.select(Attempt).join(_ranked, _ranked.c.id == Attempt.id).where(_ranked.c.recency == 1)


def latest_attempts(student_id: int, exam_ids: list[int]) -> dict[int, Attempt]:
    """The student's most recent attempt at each of `exam_ids`, in one query."""
    if not exam_ids:
        return {}
    rows = db.session.scalars(LATEST_ATTEMPTS, {"student_id": student_id, "exam_ids": exam_ids}).all()
    return {attempt.exam_id: attempt for attempt in rows}


def resume_or_launch(student: User, exam: Exam, now: datetime | None = None) -> Attempt:
    """The student's latest attempt at `exam` re-signed now if unfinished, else a new launch.

    The stored launch_time moves to the new signing time, because the return is
    verified against the time of the launch it answers. Commits; raises DatabaseBusy, and
    AttemptsUsedUp for a new attempt beyond the exam's attempts allowed (resuming an
    unfinished one is not a new attempt).
    """
    # Two presses of Start at once must not make two launches, nor two attempts where one
    # is left: the count and the insert are decided under the same lock, the student's.
    with write_transaction(keys=launch_keys(student)):
        latest = latest_attempts(student.id, [exam.id]).get(exam.id)
        if not resumable(latest):
            allowed = exam.attempts_allowed  # read again under the lock (write_transaction expired it)
            if allowed is not None and (used := attempts_used(student.id, exam.id)) >= allowed:
                raise AttemptsUsedUp(exam, used)
            return _new_launch(student, exam, now)
        latest.launch_time = int((now or datetime.now(UTC)).timestamp())
        return latest
