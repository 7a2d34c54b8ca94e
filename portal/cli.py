"""Command-line tools for operators: `flask --app portal <command>`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from portal.database import init_database
from portal.extensions import db
from portal.models import Exam, User
from portal.passwords import hash_password

MIN_PASSWORD_LENGTH = 8


def register(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(set_password_command)
    app.cli.add_command(add_exam_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(testpress_group)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database (a SQLite file, if missing) or upgrade its schema by applying every migration."""
    init_database()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", required=True, help="The person's name, as shown to them and to Testpress.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for (hidden) when not given.")
@click.option("--staff", is_flag=True, help="Give access to the staff pages.")
def create_user_command(email: str, name: str, password: str, staff: bool):
    """Create a student (or, with --staff, a staff member) who can log in."""
    user = create_user(email, name, password, staff=staff)
    click.echo(f"Created {'staff member' if staff else 'student'} {user.email}.")


def create_user(email: str, name: str, password: str, *, staff: bool = False) -> User:
    """Validate and store a new person; raises click.UsageError on bad values."""
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    name = name.strip()
    if not name or len(name) > 120:
        raise click.BadParameter("must be 1 to 120 characters", param_hint="--name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"must be at least {MIN_PASSWORD_LENGTH} characters",
                                 param_hint="--password")
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise click.ClickException(f"a user with email {email} already exists")
    user = User(email=email, name=name, password_hash=hash_password(password), is_staff=staff)
    db.session.add(user)
    db.session.commit()
    return user


@click.command("set-password")
@with_appcontext
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for (hidden) when not given.")
def set_password_command(email: str, password: str):
    """Give a person a new password; every session they have open ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"must be at least {MIN_PASSWORD_LENGTH} characters", param_hint="--password")
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"nobody has the email {email.strip().lower()}")
    user.set_password(hash_password(password))
    db.session.commit()
    click.echo(f"New password set for {user.email}; their sessions have ended.")


@click.command("add-exam")
@with_appcontext
@click.option("--title", required=True, help="The title students see.")
@click.option("--url", "exam_url", required=True, help="The exam URL from Testpress's dashboard.")
@click.option("--testpress-id", type=click.IntRange(min=1), help="Testpress's numeric exam id.")
@click.option("--description", default="", help="A short description for students.")
def add_exam_command(title: str, exam_url: str, testpress_id: int | None, description: str):
    """Offer a Testpress exam to students (published at once)."""
    exam = add_exam(title, exam_url, testpress_id, description)
    click.echo(f"Added exam {exam.id}: {exam.title}")


def add_exam(title: str, exam_url: str, testpress_id: int | None = None, description: str = "") -> Exam:
    title = title.strip()
    if not title or len(title) > 200:
        raise click.BadParameter("must be 1 to 200 characters", param_hint="--title")
    if not exam_url.lower().startswith(("https://", "http://")) or len(exam_url) > 500:
        raise click.BadParameter("must be an http(s) URL copied from Testpress", param_hint="--url")
    if testpress_id and db.session.scalar(sa.select(Exam.id).where(Exam.testpress_id == testpress_id)):
        raise click.ClickException(f"an exam with Testpress id {testpress_id} already exists")
    exam = Exam(title=title, exam_url=exam_url, testpress_id=testpress_id, description=description)
    db.session.add(exam)
    db.session.commit()
    return exam


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path):
    """Copy the SQLite database to PATH, consistently, while the portal keeps running."""
    from portal.backup import BackupRefused, backup_sqlite

    try:
        size = backup_sqlite(db.engine.url, path)
    except BackupRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"Backed up the database to {path} ({size:,} bytes); integrity check ok.")


# An AppGroup runs each of its commands inside the app context.
testpress_group = AppGroup("testpress", help="Talk to Testpress's Admin API; check the connection.")


@testpress_group.command("sync")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Pull attempts started since this date (UTC), instead of since the last run.")
@click.option("--exam", "exam_id", type=click.IntRange(min=1), help="Only this Testpress exam id.")
def sync_command(since, exam_id):
    """Pull attempts from the Admin API and reconcile them with the portal's records."""
    # Imported here so that the other commands do not load the HTTP client.
    from portal.testpress.client import TestpressClient, TestpressError
    from portal.testpress.settings import testpress_settings
    from portal.testpress.sync import failure_line, sync_attempts

    progress = SyncProgressBar() if sys.stdout.isatty() else None
    try:
        client = TestpressClient.from_settings(testpress_settings())
        summary = sync_attempts(client, since=since, exam_id=exam_id, on_page=progress)
    except TestpressError as error:
        raise click.ClickException(str(error)) from None
    except sa.exc.SQLAlchemyError as error:  # the run is marked failed; no traceback, no SQL
        raise click.ClickException(f"sync failed: {failure_line(error)}") from None
    finally:
        if progress is not None:
            progress.close()
    click.echo(summary.line())


@testpress_group.command("check")
def check_command():
    """Check the connection to Testpress, line by line; exit 1 if anything failed."""
    from portal.testpress.check import run_checks

    report = run_checks()
    for finding in report.findings:
        click.echo(finding.line())
    if report.failed:
        raise click.exceptions.Exit(1)


class SyncProgressBar:
    """A progress bar fed page by page; its length comes from the first page's count."""

    def __init__(self):
        self._bar = None

    def __call__(self, page) -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=page.count, label="Syncing attempts")
            self._bar.__enter__()
        self._bar.update(len(page.results))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
