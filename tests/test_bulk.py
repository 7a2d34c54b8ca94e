"""The batch SQL the sync and the webhook's matching use: `among` and `insert_rows`."""

from datetime import datetime

import sqlalchemy as sa

from portal.bulk import LONG_LIST, among, insert_rows
from portal.extensions import db
from portal.models import Attempt, User
from tests.factories import make_attempt, make_exam, make_user


def test_among_finds_exactly_the_rows_named_by_text_or_number(app):
    student, exam = make_user(), make_exam()
    attempts = [make_attempt(student, exam, testpress_attempt_id=str(number)) for number in (7, 8, 9)]
    absent = [str(number) for number in range(1000, 1000 + LONG_LIST)]  # long enough for the JSON form

    for padding in ([], absent):
        # A number for a text column and text for a number column, as an ordinary IN allows.
        by_text = db.session.scalars(sa.select(Attempt.testpress_attempt_id).where(
            among(Attempt.testpress_attempt_id, [7, "9", *padding])))
        by_number = db.session.scalars(sa.select(Attempt.id).where(
            among(Attempt.id, [str(attempts[1].id), *map(int, padding)])))

        assert sorted(by_text) == ["7", "9"]
        assert list(by_number) == [attempts[1].id]
    assert db.session.scalars(sa.select(User.id).where(among(User.id, []))).all() == []


def test_among_binds_one_parameter_for_any_long_list(app):
    """One statement for every batch size: SQLite (and sqlite3's cache), or PostgreSQL
    (psycopg prepares a statement it sees often), prepares it once."""
    few = sa.select(User.id).where(among(User.email, [f"{n}@example.com" for n in range(LONG_LIST)]))
    many = sa.select(User.id).where(among(User.email, [f"{n}@example.com" for n in range(1000)]))

    # As executed: an ordinary IN list would be rendered with a placeholder per value.
    compiled_few, compiled_many = (
        statement.compile(db.engine, compile_kwargs={"render_postcompile": True}) for statement in (few, many)
    )

    assert str(compiled_few) == str(compiled_many)
    assert len(compiled_many.params) == 1


def test_rows_inserted_in_bulk_read_back_as_the_orm_wrote_them(app):
    """The sync's driver-level insert stores values exactly as SQLAlchemy would."""
    student, exam = make_user(), make_exam()
    moment = datetime(2026, 11, 21, 9, 30, 5, 120000)
    whole_second = datetime(2026, 11, 21, 9, 30, 5)  # isoformat() would drop its microseconds
    orm = Attempt(student=student, exam=exam, testpress_attempt_id="1", started_at=moment, updated_at=whole_second,
                  score=11.5, flagged=True)
    db.session.add(orm)
    db.session.flush()
    insert_rows(Attempt.__table__, ["student_id", "exam_id", "testpress_attempt_id", "status", "started_at",
                                    "updated_at", "score", "flagged"],
                [[student.id, exam.id, "2", "launched", moment, whole_second, 11.5, True]])
    stored = db.session.execute(sa.text(
        "SELECT started_at, updated_at, score, flagged FROM attempts ORDER BY testpress_attempt_id")).all()
    assert stored[0] == stored[1]
    db.session.expire_all()
    bulk = db.session.scalar(sa.select(Attempt).where(Attempt.testpress_attempt_id == "2"))
    assert (bulk.started_at, bulk.flagged, bulk.score) == (moment, True, 11.5)
