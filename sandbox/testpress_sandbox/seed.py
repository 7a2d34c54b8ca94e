"""Seeded exams, the admin user, and bulk attempts for sync benchmarks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .models import COMPLETED, MARKS_CORRECT, MARKS_WRONG, NOT_STARTED, RUNNING, Exam, Question, User, db, utcnow


def _question(text: str, options: list[str], correct: int) -> dict:
    return {"text": text, "options": options, "correct_option": correct}


EXAMS = [
    {
        "id": 1,
        "slug": "physics-mock-1",
        "title": "Physics Mock 1",
        "description": "Mechanics and waves: a short mock test.",
        "duration_minutes": 30,
        "questions": [
            _question("The SI unit of force is the…", ["joule", "newton", "watt", "pascal"], 1),
            _question("A body at rest stays at rest unless acted on by a net force. This is…",
                      ["Newton's first law", "Newton's second law", "Newton's third law", "Hooke's law"], 0),
            _question("Acceleration due to gravity near Earth's surface is about…",
                      ["1.6 m/s²", "3.7 m/s²", "9.8 m/s²", "24.8 m/s²"], 2),
            _question("The speed of sound in air at room temperature is about…",
                      ["34 m/s", "343 m/s", "3,430 m/s", "300,000 km/s"], 1),
            _question("Momentum is the product of mass and…", ["acceleration", "force", "velocity", "time"], 2),
        ],
    },
    {
        "id": 2,
        "slug": "chemistry-quiz",
        "title": "Chemistry Quiz",
        "description": "Atoms, the periodic table and simple reactions.",
        "duration_minutes": 20,
        "questions": [
            _question("The chemical symbol of sodium is…", ["S", "So", "Na", "Sd"], 2),
            _question("Water's pH at 25 °C is…", ["5", "7", "9", "14"], 1),
            _question("The most abundant gas in Earth's atmosphere is…",
                      ["oxygen", "carbon dioxide", "argon", "nitrogen"], 3),
            _question("Avogadro's number is about…", ["6.022 × 10²³", "3.0 × 10⁸", "1.6 × 10⁻¹⁹", "9.1 × 10⁻³¹"], 0),
        ],
    },
    {
        "id": 3,
        "slug": "maths-drill",
        "title": "Maths Drill",
        "description": "Quick arithmetic and algebra.",
        "duration_minutes": 15,
        "questions": [
            _question("7 × 8 =", ["54", "56", "58", "64"], 1),
            _question("If 2x + 3 = 11, x =", ["3", "4", "5", "7"], 1),
            _question("The square root of 144 is…", ["11", "12", "13", "14"], 1),
            _question("15% of 200 is…", ["15", "20", "30", "45"], 2),
            _question("The sum of a triangle's interior angles is…", ["90°", "180°", "270°", "360°"], 1),
            _question("log₁₀ 1000 =", ["2", "3", "10", "100"], 1),
        ],
    },
]

ADMIN_EMAIL = "admin@sandbox.testpress.local"


def seed_exams() -> None:
    """Create the seeded exams and the API's admin user, leaving existing rows alone."""
    for spec in EXAMS:
        if db.session.get(Exam, spec["id"]) is not None:
            continue
        exam = Exam(
            id=spec["id"],
            slug=spec["slug"],
            title=spec["title"],
            description=spec["description"],
            duration_minutes=spec["duration_minutes"],
            start_date=datetime(2025, 1, 1),
        )
        exam.questions = [Question(position=number, **question) for number, question in enumerate(spec["questions"], 1)]
        db.session.add(exam)
    username = current_app.config["API_USERNAME"]
    if db.session.scalar(sa.select(User).where(User.username == username)) is None:
        db.session.add(User(username=username, email=ADMIN_EMAIL, first_name="Sandbox admin", is_staff=True))
    db.session.commit()


def init_db() -> None:
    """Create the tables and seed them; safe to run again."""
    db.create_all()
    seed_exams()


def seed_attempts(
    count: int,
    *,
    exam_id: int | None = None,
    state: str = COMPLETED,
    users: int | None = None,
    institute_ids_from: int | None = None,
    random_seed: int = 2024,
) -> int:
    """Insert ``count`` attempts by generated users in one transaction, fast enough for 100,000.

    Attempts spread over the seeded exams (or one ``exam_id``) and the past year. With
    ``institute_ids_from`` they carry institute_attempt_ids counting up from it, as if the
    portal had launched them. Returns the number inserted.
    """
    if count <= 0:
        return 0
    exams = db.session.scalars(sa.select(Exam).where(Exam.id == exam_id) if exam_id else sa.select(Exam)).all()
    if not exams:
        raise LookupError(f"no exam {exam_id}" if exam_id else "no exams: run init-db first")
    totals = {exam.id: len(exam.questions) for exam in exams}
    exam_ids = sorted(totals)

    user_ids = _generate_users(users or max(1, min(count, count // 5)))
    rng = random.Random(random_seed)
    now = utcnow()
    rows = []
    for number in range(count):
        exam_id_ = exam_ids[number % len(exam_ids)]
        total = totals[exam_id_]
        date = now - timedelta(seconds=rng.randrange(365 * 86400))
        correct = incorrect = 0
        answered_at = completed_at = None
        if state in (COMPLETED, RUNNING):
            correct = rng.randint(0, total)
            incorrect = rng.randint(0, total - correct)
            answered_at = date + timedelta(minutes=5)
        if state == COMPLETED:
            completed_at = date + timedelta(minutes=10)
        rows.append(
            (
                exam_id_,
                user_ids[number % len(user_ids)],
                None if institute_ids_from is None else str(institute_ids_from + number),
                state,
                False,
                _sqlite_time(date),
                None if state == NOT_STARTED else _sqlite_time(date),
                _sqlite_time(answered_at),
                _sqlite_time(completed_at),
                "{}",
                total,
                correct,
                incorrect,
                total - correct - incorrect,
                MARKS_CORRECT * correct + MARKS_WRONG * incorrect,
                MARKS_CORRECT * total,
            )
        )
    _insert_many("attempt", ATTEMPT_COLUMNS, rows)
    db.session.commit()
    return count


ATTEMPT_COLUMNS = (
    "exam_id", "user_id", "institute_attempt_id", "state", "evaluation_pending", "date", "started_at",
    "last_answer_updated_at", "completed_at", "answers", "total_count", "correct_answers_count",
    "incorrect_answers_count", "unanswered_count", "score", "max_score",
)
USER_COLUMNS = ("id", "username", "email", "first_name", "is_staff", "created_at")


def _sqlite_time(moment: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores, so the ORM reads these rows back as usual."""
    return None if moment is None else moment.isoformat(" ", timespec="microseconds")


def _insert_many(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    # Straight to the driver's executemany, inside the session's transaction: SQLAlchemy's
    # per-value processing alone takes longer than SQLite needs for 100,000 rows.
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    db.session.connection().exec_driver_sql(statement, rows)


def _generate_users(count: int) -> list[int]:
    first_new_id = (db.session.scalar(sa.select(sa.func.max(User.id))) or 0) + 1
    ids = range(first_new_id, first_new_id + count)
    now = _sqlite_time(utcnow())
    _insert_many(
        "user",
        USER_COLUMNS,
        [(user_id, f"seeded-{user_id}", f"seeded-{user_id}@sandbox.testpress.local", f"Student {user_id}", False, now)
         for user_id in ids],
    )
    return list(ids)
