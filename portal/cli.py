"""Command-line tools for operators: `flask --app portal <command>`."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal.core.database import init_database, write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.exams.rules import InvalidExam, add_exam
from portal.people.accounts import InvalidPerson, create_person, set_password


def register(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(set_password_command)
    app.cli.add_command(add_exam_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(import_people_command)
    app.cli.add_command(expire_imports_command)
    app.cli.add_command(rebuild_exam_stats_command)
    app.cli.add_command(rebuild_standings_command)
    app.cli.add_command(testpress_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(mail_group)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database (a SQLite file, if missing) or upgrade its schema by applying every migration."""
    init_database()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("rebuild-exam-stats")
@with_appcontext
def rebuild_exam_stats_command():
    """Recount the dashboard's per-exam figures from every attempt (after a restore, or as a repair)."""
    from portal.exams import stats as exam_stats

    rows = exam_stats.rebuild()
    db.session.commit()
    click.echo(f"Recounted the attempts of every exam: {rows} rows of exam_stats.")


@click.command("rebuild-standings")
@with_appcontext
def rebuild_standings_command():
    """Derive every student's counting attempt per exam again from the attempts.

    The portal keeps them current by itself; this is for after loading attempts in bulk
    outside it (straight into the database), or as a repair.
    """
    from portal.attempts.standings import rebuild

    with write_transaction():
        count = rebuild(db.session)
    click.echo(f"Rebuilt {count} standings.")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", required=True, help="The person's name, as shown to them and to Testpress.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for (hidden) when not given.")
@click.option("--staff", is_flag=True, help="Give access to the staff pages.")
def create_user_command(email: str, name: str, password: str, staff: bool):
    """Create a student (or, with --staff, a staff member) who can log in."""
    with refusals_as_click_errors({"email": "EMAIL", "name": "--name", "password": "--password"}):
        user = create_person(email, name, password, staff=staff, by=None)
    db.session.commit()
    click.echo(f"Created {'staff member' if staff else 'student'} {user.email}.")


@click.command("set-password")
@with_appcontext
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Asked for (hidden) when not given.")
def set_password_command(email: str, password: str):
    """Give a person a new password; every session they have open ends."""
    with refusals_as_click_errors({"password": "--password"}):
        user = set_password(email, password)
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
    with refusals_as_click_errors({"title": "--title", "exam_url": "--url", "testpress_id": "--testpress-id",
                                   "description": "--description"}):
        exam = add_exam(title, exam_url, testpress_id=testpress_id, description=description, by=None)
    db.session.commit()
    click.echo(f"Added exam {exam.id}: {exam.title}")


@click.command("import-people")
@with_appcontext
@click.argument("file", type=click.File("rb"))
@click.option("--confirm", is_flag=True, help="Write the good rows; without it, only the preview is printed.")
@click.option("--create-batch", "new_batches", multiple=True, metavar="NAME",
              help="Create this batch, named in the file but unknown (repeatable).")
@click.option("--links", "links_file", type=click.File("w", encoding="utf-8-sig"),
              help="With --confirm: write the one-time password links (email,name,link) to this CSV file.")
@click.option("--email-links", is_flag=True, help="With --confirm: email each person without a password their "
              "one-time link (queued in the import's transaction; the worker sends them).")
@click.option("--base-url", metavar="URL", help="With --links or --email-links: the portal's public address, "
              "e.g. https://portal.institute.edu, which the links start with.")
def import_people_command(file, confirm: bool, new_batches: tuple[str, ...], links_file, email_links: bool,
                          base_url):
    """Import people from a CSV file (email,name[,password][,batch], a header row).

    Prints every row that has a problem, and the counts; with --confirm, writes all the other
    rows in one transaction and prints where the one-time password links went.
    """
    from portal.core.csvfiles import csv_lines
    from portal.people import importing as people_import
    from portal.people.link_emails import queue_link_messages
    from portal.people.password_links import link_url

    data = file.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
    if len(data) > current_app.config["IMPORT_MAX_BYTES"]:
        raise click.ClickException(f"The file is larger than {current_app.config['IMPORT_MAX_BYTES']:,} bytes "
                                   "(IMPORT_MAX_BYTES): split it.")
    try:
        pending = people_import.start_import(data, Path(file.name).name, by=None)
        checked = people_import.preview(pending.csv_text)
    except people_import.ImportRefused as refused:
        raise click.ClickException(str(refused)) from None
    for row in checked.problem_rows:
        click.echo(f"line {row.line}: {row.cells.get('email') or '(no email)'}: {people_import.row_problem_text(row)}")
    unknown = {name.lower() for name in checked.unknown_batches}
    for name in new_batches:
        if name.lower() not in unknown:
            raise click.BadParameter(f"the file names no unknown batch “{name}”", param_hint="--create-batch")
    writable = checked.writable(new_batches)
    click.echo(f"{len(checked.rows):,} rows: {len(writable):,} to import, "
               f"{len(checked.rows) - len(writable):,} with a problem.")
    if checked.unknown_batches:
        click.echo("Unknown batches (create them with --create-batch): " + ", ".join(checked.unknown_batches))
    if checked.refusal:
        raise click.ClickException(checked.refusal)
    if not confirm:
        db.session.rollback()  # the preview writes nothing
        click.echo("Nothing written: run again with --confirm to import.")
        return
    without_password = sum(1 for row in writable if not row.password)
    if email_links and not current_app.config["MAIL_SERVER"]:
        raise click.UsageError("--email-links needs email set up: set MAIL_SERVER and the other MAIL_ settings.")
    if without_password and ((links_file is None and not email_links) or not base_url):
        raise click.UsageError(f"{without_password:,} people have no password: give --links FILE or --email-links, "
                               "and --base-url URL, for their one-time password links.")
    try:
        outcome = people_import.confirm(pending, by=None, new_batches=new_batches)
    except (people_import.ImportRaced, people_import.ImportGone) as error:
        raise click.ClickException(f"Nothing written: {error or 'someone changed people meanwhile'}; try again.") \
            from None
    with current_app.test_request_context(base_url=base_url):  # the address link_url builds on
        lines = list(csv_lines(["email", "name", "link"],
                               ([email, name, link_url(token)] for email, name, token in outcome.links)))
        emailed = queue_link_messages(outcome.links_with_ids) if email_links else 0
    db.session.commit()
    if emailed:
        click.echo(f"One-time password links for {emailed:,} people queued to be emailed (the worker sends them; "
                   "each works once, for 24 hours).")
    if links_file is not None and outcome.links:
        links_file.writelines(lines)
        click.echo(f"One-time password links for {len(outcome.links):,} people written to {links_file.name} "
                   "(each works once, for 24 hours: hand them out, then delete the file).")
    click.echo(people_import.summary_line(pending.filename, outcome.created, len(outcome.left),
                                          outcome.new_batches, len(outcome.links)) + ".")


@click.command("expire-imports")
@with_appcontext
def expire_imports_command():
    """Delete people imports left unconfirmed for a day (their text may hold passwords); for cron."""
    from portal.people.importing import delete_expired

    deleted = delete_expired()
    db.session.commit()
    click.echo(f"Deleted {deleted} unconfirmed import{'s' if deleted != 1 else ''} older than a day.")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Run what is due once and exit (for cron, and for tests).")
def worker_command(once: bool):
    """Run the scheduled jobs: the Testpress sync, import previews expiring, the staff digest, the outbox.

    One long-lived process (a systemd unit beside gunicorn's); any number of them, on any
    number of servers, run each job once. SIGTERM stops it after the job in hand.
    """
    import signal
    import threading

    from portal.jobs.worker import run_due, run_forever

    if once:
        ran = run_due()
        for job in ran:
            click.echo(f"{job.name}: {job.line}")
        if not ran:
            click.echo("Nothing was due.")
        if any(job.failed for job in ran):
            raise click.exceptions.Exit(1)
        return
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    run_forever(stop)


@contextmanager
def refusals_as_click_errors(parameters: dict[str, str]):
    """A service's refusal as one line: a bad value as click's usage error (exit 2) naming
    the parameter that gave the field (`parameters`: field to parameter), a conflict such
    as a taken email as a plain error (exit 1)."""
    try:
        yield
    except (InvalidPerson, InvalidExam) as error:
        raise click.BadParameter(str(error), param_hint=parameters.get(error.field)) from None
    except DomainError as error:
        raise click.ClickException(str(error)) from None


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path):
    """Copy the SQLite database to PATH, consistently, while the portal keeps running."""
    from portal.core.backup import BackupRefused, backup_sqlite

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
    from portal.testpress.sync import SyncAlreadyRunning, failure_line, sync_attempts

    progress = SyncProgressBar() if sys.stdout.isatty() else None
    try:
        client = TestpressClient.from_settings(testpress_settings())
        summary = sync_attempts(client, since=since, exam_id=exam_id, on_page=progress)
    except SyncAlreadyRunning as running:
        where = f"; its progress is on the staff pages at /admin/testpress/runs/{running.run.id}" if running.run else ""
        raise click.ClickException(f"{running}{where}") from None
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


mail_group = AppGroup("mail", help="Email: check the settings by sending a message.")


@mail_group.command("test")
@click.argument("address")
def mail_test_command(address: str):
    """Send one test message to ADDRESS now, saying which step failed (settings, connection,
    TLS, login, message); exit 1 if one did."""
    from portal.mail.check import send_test_message

    steps = send_test_message(address)
    for step in steps:
        click.echo(step.line())
    if not steps[-1].ok:
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
