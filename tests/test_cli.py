"""The operator's commands: `flask --app portal init-db | create-user | add-exam`."""

import sqlalchemy as sa

from portal.core.extensions import db
from portal.core.passwords import check_password
from portal.models import Exam, User
from tests.factories import make_exam, make_user


def test_init_db_applies_the_migrations(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    with app.app_context():
        tables = sa.inspect(db.engine).get_table_names()
    assert {"users", "exams", "attempts", "alembic_version"} <= set(tables)
    # Running it again is harmless.
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0


def test_create_user(app, runner):
    result = runner.invoke(args=["create-user", "Ravi@Example.com", "--name", "Ravi Kumar",
                                 "--password", "longenough1"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "ravi@example.com"))
    assert user.name == "Ravi Kumar" and not user.is_staff
    assert check_password(user.password_hash, "longenough1")
    assert "longenough1" not in user.password_hash


def test_create_staff_user(app, runner):
    result = runner.invoke(args=["create-user", "boss@example.com", "--name", "Boss", "--password", "longenough1",
                                 "--staff"])
    assert result.exit_code == 0
    assert "staff member" in result.output
    assert db.session.scalar(sa.select(User.is_staff).where(User.email == "boss@example.com")) is True


def test_create_user_prompts_for_a_hidden_password(app, runner):
    result = runner.invoke(args=["create-user", "p@example.com", "--name", "P"], input="longenough1\nlongenough1\n")
    assert result.exit_code == 0, result.output
    assert "longenough1" not in result.output
    assert db.session.scalar(sa.select(User).where(User.email == "p@example.com")) is not None


def test_create_user_refuses_a_duplicate_email(app, runner):
    make_user("asha@example.com")
    result = runner.invoke(args=["create-user", "ASHA@example.com", "--name", "A", "--password", "longenough1"])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert "Traceback" not in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_create_user_refuses_bad_values(app, runner):
    for args, complaint in [
        (["not-an-email", "--name", "A", "--password", "longenough1"], "EMAIL"),
        (["a@example.com", "--name", "  ", "--password", "longenough1"], "--name"),
        (["a@example.com", "--name", "A", "--password", "short"], "at least 8"),
        (["a@example.com", "--password", "longenough1"], "--name"),
    ]:
        result = runner.invoke(args=["create-user", *args])
        assert result.exit_code == 2, (args, result.output)
        assert complaint in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_add_exam(app, runner):
    result = runner.invoke(args=["add-exam", "--title", "Physics Mock 1", "--url",
                                 "https://myinstitute.testpress.in/exams/run/physics/start/", "--testpress-id", "12"])
    assert result.exit_code == 0, result.output
    exam = db.session.scalar(sa.select(Exam))
    assert (exam.title, exam.testpress_id, exam.published) == ("Physics Mock 1", 12, True)


def test_add_exam_refuses_a_duplicate_testpress_id(app, runner):
    make_exam(testpress_id=12)
    result = runner.invoke(args=["add-exam", "--title", "Again", "--url", "https://t.example/x",
                                 "--testpress-id", "12"])
    assert result.exit_code == 1
    assert "already exists" in result.output and "Traceback" not in result.output


def test_add_exam_refuses_bad_values(app, runner):
    for args, complaint in [
        (["--title", "T", "--url", "ftp://t.example/x"], "--url"),
        (["--title", "", "--url", "https://t.example/x"], "--title"),
        (["--title", "T", "--url", "https://t.example/x", "--testpress-id", "0"], "--testpress-id"),
        (["--title", "T", "--url", "https://t.example/x", "--testpress-id", "abc"], "--testpress-id"),
    ]:
        result = runner.invoke(args=["add-exam", *args])
        assert result.exit_code == 2, (args, result.output)
        assert complaint in result.output
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0


def test_set_password_refuses_an_unknown_email_or_a_short_password(app, runner):
    make_user("asha@example.com")
    unknown = runner.invoke(args=["set-password", "nobody@example.com", "--password", "longenough1"])
    assert unknown.exit_code == 1 and "nobody has the email nobody@example.com" in unknown.output
    short = runner.invoke(args=["set-password", "asha@example.com", "--password", "short"])
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    user = db.session.scalar(sa.select(User).where(User.email == "asha@example.com"))
    assert user.session_version == 1 and not check_password(user.password_hash, "short")
