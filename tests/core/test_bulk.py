"""The batch SQL the sync and the webhook's matching use: `among`."""

import sqlalchemy as sa

from portal.core.bulk import LONG_LIST, among, listed
from portal.core.extensions import db
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


def test_a_statement_built_once_takes_each_executions_list(app):
    student, exam = make_user(), make_exam()
    attempts = [make_attempt(student, exam, testpress_attempt_id=str(number)) for number in (7, 8, 9)]
    statement = sa.select(Attempt.id).where(among(Attempt.testpress_attempt_id, listed("named")))

    for named, expected in (([7, "9"], [attempts[0].id, attempts[2].id]), ([], []), (["8"], [attempts[1].id])):
        assert sorted(db.session.scalars(statement, {"named": named})) == expected
