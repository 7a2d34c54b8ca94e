"""``flask --app testpress_sandbox init-db`` and ``seed-attempts``."""

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from .models import COMPLETED, NOT_STARTED, RUNNING
from .seed import init_db, seed_attempts


def register(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_attempts_command)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the tables and seed the exams and the API's admin user (safe to repeat)."""
    init_db()
    click.echo("Sandbox database ready.")


@click.command("seed-attempts")
@with_appcontext
@click.argument("count", type=click.IntRange(min=1))
@click.option("--exam", "exam_id", type=int, help="Only this exam's id (default: spread over all).")
@click.option("--state", type=click.Choice([COMPLETED, RUNNING, NOT_STARTED]), default=COMPLETED, show_default=True)
@click.option("--institute-ids-from", type=int, help="Give attempts institute_attempt_ids counting up from this.")
def seed_attempts_command(count, exam_id, state, institute_ids_from):
    """Insert COUNT attempts by generated users, for sync benchmarks."""
    init_db()
    started = time.perf_counter()
    try:
        inserted = seed_attempts(count, exam_id=exam_id, state=state, institute_ids_from=institute_ids_from)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Seeded {inserted} attempts in {time.perf_counter() - started:.1f} s.")
