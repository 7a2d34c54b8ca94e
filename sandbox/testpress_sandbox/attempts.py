"""What happens to an attempt: launch, answers, submit, evaluation, and the return to the institute."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import current_app

from . import faults
from .models import COMPLETED, MARKS_CORRECT, MARKS_WRONG, RUNNING, Attempt, Exam, User, db, marks_text, utcnow
from .signing import RETURN
from .webhooks import STARTED, send_webhook

CANCELLED, PENDING = "cancelled", "pending"


class LaunchRefused(Exception):
    """A launch Testpress would refuse; the message is shown to the student."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def find_or_create_user(email: str, first_name: str) -> User:
    """The Testpress user with this email, created on first launch."""
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
    if user is None:
        user = User(username=_free_username(email), email=email, first_name=first_name)
        db.session.add(user)
    else:
        user.first_name = first_name
    return user


def _free_username(email: str) -> str:
    base = email.split("@", 1)[0][:140] or "student"
    username, suffix = base, 1
    while db.session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        suffix += 1
        username = f"{base}-{suffix}"
    return username


def launch_attempt(exam: Exam, *, email: str, first_name: str, institute_attempt_id: str, time: str,
                   surl: str) -> Attempt:
    """Start (or resume) the attempt a verified launch asks for, and send the "started" webhook.

    Raises LaunchRefused when ``institute_attempt_id`` already belongs to a submitted attempt,
    or to someone else's.
    """
    user = find_or_create_user(email, first_name)
    db.session.flush()
    existing = db.session.scalar(
        sa.select(Attempt).where(Attempt.institute_attempt_id == institute_attempt_id).order_by(Attempt.id.desc())
    )
    if existing is not None:
        if existing.is_submitted:
            raise LaunchRefused("This institute_attempt_id was already used by a completed attempt.", 409)
        if (existing.user_id, existing.exam_id) != (user.id, exam.id):
            raise LaunchRefused("This institute_attempt_id belongs to another student's or exam's attempt.", 409)
        # "Take later" left it running: the same reference resumes it, answers kept.
        existing.launch_time, existing.surl, existing.return_status = time, surl, None
        db.session.commit()
        return existing

    now = utcnow()
    attempt = Attempt(
        exam=exam,
        user=user,
        institute_attempt_id=institute_attempt_id,
        state=RUNNING,
        date=now,
        started_at=now,
        launch_time=time,
        surl=surl,
        take_token=secrets.token_urlsafe(24),
        answers={},
        total_count=len(exam.questions),
        unanswered_count=len(exam.questions),
        max_score=exam.max_score,
    )
    db.session.add(attempt)
    db.session.commit()
    send_webhook(attempt, STARTED)
    return attempt


def save_answers(attempt: Attempt, chosen: dict[str, int]) -> None:
    """Keep the student's choices (question id as text -> option index), ignoring unknown questions."""
    valid = {str(question.id): len(question.options) for question in attempt.exam.questions}
    attempt.answers = {qid: option for qid, option in chosen.items() if qid in valid and 0 <= option < valid[qid]}
    attempt.last_answer_updated_at = utcnow()


def score(attempt: Attempt) -> None:
    """Mark the saved answers: +4 for a correct one, -1 for a wrong one."""
    questions = attempt.exam.questions
    correct = sum(1 for q in questions if attempt.answers.get(str(q.id)) == q.correct_option)
    answered = sum(1 for q in questions if str(q.id) in attempt.answers)
    _set_counts(attempt, total=len(questions), correct=correct, incorrect=answered - correct)


def _set_counts(attempt: Attempt, *, total: int, correct: int, incorrect: int) -> None:
    attempt.total_count = total
    attempt.correct_answers_count = correct
    attempt.incorrect_answers_count = incorrect
    attempt.unanswered_count = total - correct - incorrect
    attempt.score = MARKS_CORRECT * correct + MARKS_WRONG * incorrect
    attempt.max_score = MARKS_CORRECT * total


def submit_attempt(attempt: Attempt) -> str:
    """Finish the attempt; returns the return status, "completed" or "pending"."""
    if attempt.exam.manual_evaluation or faults.current().pending_results:
        attempt.evaluation_pending = True
        attempt.return_status = PENDING
        db.session.commit()
        return PENDING
    _complete(attempt)
    return COMPLETED.lower()


def _complete(attempt: Attempt) -> None:
    score(attempt)
    attempt.state = COMPLETED
    attempt.evaluation_pending = False
    attempt.completed_at = utcnow()
    attempt.return_status = COMPLETED.lower()
    db.session.commit()
    send_webhook(attempt, COMPLETED.lower())


def take_later(attempt: Attempt) -> None:
    """The student leaves without submitting: the attempt stays running and can be resumed."""
    attempt.return_status = CANCELLED
    db.session.commit()


def evaluate_attempt(attempt_id: int) -> Attempt:
    """Staff evaluate a pending attempt: it completes and the "completed" webhook goes out.

    Raises LookupError for an unknown attempt and ValueError for one not pending evaluation.
    """
    attempt = _get_attempt(attempt_id)
    if not attempt.evaluation_pending:
        raise ValueError(f"attempt {attempt_id} is not pending evaluation")
    _complete(attempt)
    return attempt


def reevaluate_attempt(attempt_id: int, correct_answers_count: int) -> Attempt:
    """Staff re-evaluate a completed attempt (say, a wrong answer key): new counts and score,
    and a fresh "completed" webhook, so the portal can be tested on changed results.

    Answered questions stay answered; the ones no longer correct become incorrect.
    Raises LookupError for an unknown attempt, ValueError for one not completed or a count out of range.
    """
    attempt = _get_attempt(attempt_id)
    if attempt.state != COMPLETED:
        raise ValueError(f"attempt {attempt_id} is not completed")
    total = attempt.total_count
    if not 0 <= correct_answers_count <= total:
        raise ValueError(f"correct_answers_count must be between 0 and {total}")
    answered = max(attempt.correct_answers_count + attempt.incorrect_answers_count, correct_answers_count)
    _set_counts(attempt, total=total, correct=correct_answers_count, incorrect=answered - correct_answers_count)
    db.session.commit()
    send_webhook(attempt, COMPLETED.lower())
    return attempt


def _get_attempt(attempt_id: int) -> Attempt:
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None:
        raise LookupError(f"no attempt {attempt_id}")
    return attempt


def rank(attempt: Attempt) -> tuple[int, int]:
    """(rank, max_rank) among the exam's completed attempts; equal scores share a rank."""
    completed = sa.select(sa.func.count(Attempt.id)).where(Attempt.exam_id == attempt.exam_id,
                                                           Attempt.state == COMPLETED)
    better = db.session.scalar(completed.where(Attempt.score > attempt.score))
    return better + 1, db.session.scalar(completed)


def return_fields(attempt: Attempt) -> dict[str, str]:
    """Every documented return parameter, signed like a launch with the launch's own time."""
    config = current_app.config
    status = attempt.return_status
    user = attempt.user
    fields = {
        "email": user.email,
        "first_name": user.first_name,
        # Testpress leaves the attempt out of a cancelled return.
        "attempt_id": "" if status == CANCELLED else str(attempt.id),
        "institute_attempt_id": attempt.institute_attempt_id or "",
        "total_count": str(attempt.total_count),
        "correct_count": "",
        "incorrect_count": "",
        "unanswered_count": "",
        "score": "",
        "max_score": marks_text(attempt.max_score),
        "rank": "",
        "max_rank": "",
        "percentage": "",
        "status": status,
    }
    if status == COMPLETED.lower():
        position, out_of = rank(attempt)
        fields.update(
            correct_count=str(attempt.correct_answers_count),
            incorrect_count=str(attempt.incorrect_answers_count),
            unanswered_count=str(attempt.unanswered_count),
            score=attempt.score_text,
            rank=str(position),
            max_rank=str(out_of),
            percentage=attempt.percentage_text,
        )
    # Signed with the institute's key and the launch's own time, as the institute will check it.
    signed = {**fields, "key": config["PUBLIC_KEY"], "time": attempt.launch_time}
    fields["hmac"] = RETURN.sign(config["SECRET"], signed, encoding=config["PERCENT_ENCODING"])
    return fields
