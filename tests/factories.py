"""Small builders for test data. Each commits and returns the new row."""

from datetime import timedelta
from itertools import count

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.core.passwords import hash_password
from portal.models import Attempt, Exam, User

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once per run
_sequence = count(1)


def make_user(email=None, name="Asha Rao", *, staff=False, active=True, **fields) -> User:
    number = next(_sequence)
    user = User(email=email or f"person{number}@example.com", name=name, is_staff=staff,
                active=active, password_hash=_PASSWORD_HASH, **fields)
    db.session.add(user)
    db.session.commit()
    return user


def make_staff(email=None, name="Staff Member", **fields) -> User:
    return make_user(email, name, staff=True, **fields)


def make_exam(title="Physics Mock 1", *, exam_url=None, testpress_id=None, **fields) -> Exam:
    number = next(_sequence)
    exam = Exam(title=title, exam_url=exam_url or f"https://testpress.example/exams/run/exam-{number}/start/",
                testpress_id=testpress_id, **fields)
    db.session.add(exam)
    db.session.commit()
    return exam


def make_attempt(student: User, exam: Exam, **fields) -> Attempt:
    number = next(_sequence)
    fields.setdefault("institute_attempt_id", 1_000_000 + number)
    fields.setdefault("launch_time", int(utcnow().timestamp()))
    fields.setdefault("started_at", utcnow() - timedelta(minutes=number))
    attempt = Attempt(student=student, exam=exam, **fields)
    db.session.add(attempt)
    db.session.commit()
    return attempt
