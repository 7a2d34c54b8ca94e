"""`python -m portal_demo` (the README's `make run`): the portal and the Testpress sandbox,
side by side with demo data, ready to click through.

The portal listens on 127.0.0.1 and the sandbox on localhost: two different sites to the
browser, as the institute and Testpress are in production, so the cross-site return is
exercised for real.

The demo's settings are written to the portal's instance config (instance/config.py), so
that `flask --app portal ...` in another terminal works against the demo as the pages
print it, and the demo's own server is built from that same file.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys
import threading
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from portal import create_app
from portal.attempts.launching import record_launch
from portal.attempts.reconciliation import record_report
from portal.core.database import init_database, write_transaction
from portal.core.extensions import db
from portal.core.logs import loggable_target
from portal.exams.rules import add_exam, update_exam
from portal.models import Attempt, Exam, User
from portal.people.accounts import PersonExists, create_person
from portal.people.batches import add_members, create_batch, find_batch
from portal.results import Report
from testpress_sandbox import create_app as create_sandbox_app
from testpress_sandbox.config import DEFAULTS as SANDBOX
from testpress_sandbox.mailbox import mailbox
from testpress_sandbox.seed import EXAMS as SANDBOX_EXAMS
from testpress_sandbox.server import start_in_thread

# email, name, password, staff. Demo-only accounts in a demo-only database.
DEMO_PEOPLE = [
    ("asha@example.com", "Asha Rao", "asha-demo-pass", False),
    ("ravi@example.com", "Ravi Kumar", "ravi-demo-pass", False),
    ("staff@example.com", "Priya Staff", "staff-demo-pass", True),
]

# The first line of an instance config the demo wrote, and may therefore rewrite.
DEMO_CONFIG_MARK = "# Written by the portal's demo (make run)"
PORT_BUSY = 2  # the exit status when a port is taken; the Makefile knows it


def demo_settings(sandbox_url: str, mail_port: int = 5025) -> dict:
    """The portal's settings for the demo: the sandbox's identity and mail catcher, plain-HTTP cookies."""
    return {
        "DEMO": True,
        # A fresh key each start: demo sessions simply end when the demo stops.
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        # An institute's own zone, as a real one sets it: the pages show and take times in it
        # (and name it), while the database keeps UTC.
        "TIMEZONE": "Asia/Kolkata",
        # Flask-SQLAlchemy reads a relative SQLite path from the instance folder.
        "SQLALCHEMY_DATABASE_URI": "sqlite:///demo.sqlite",
        "TESTPRESS_BASE_URL": sandbox_url,
        "TESTPRESS_PUBLIC_KEY": SANDBOX["PUBLIC_KEY"],
        "TESTPRESS_SECRET": SANDBOX["SECRET"],
        "TESTPRESS_PRIVATE_KEY": SANDBOX["PRIVATE_KEY"],
        "TESTPRESS_API_USERNAME": SANDBOX["API_USERNAME"],
        "TESTPRESS_API_PASSWORD": SANDBOX["API_PASSWORD"],
        "TESTPRESS_PERCENT_ENCODING": SANDBOX["PERCENT_ENCODING"],
        # The sandbox's mail catcher (testpress_sandbox.mailbox), shown at <sandbox>/sandbox/mail/.
        "INSTITUTE_NAME": "Demo Institute",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mail_port,
        "MAIL_DEFAULT_SENDER": "Demo Institute <portal@demo.invalid>",
    }


class RequestLog(WSGIRequestHandler):
    """The development server's request line, with what portal.core.logs.loggable_target hides (a
    password link's token, a GET return's query): the demo prints it to the terminal."""

    def log_request(self, code="-", size="-"):
        method, _, rest = self.requestline.partition(" ")
        target, _, protocol = rest.rpartition(" ")
        self.requestline = f"{method} {loggable_target(target)} {protocol}"
        super().log_request(code, size)


class DemoRefused(SystemExit):
    """The demo will not start; its message says why and what to do."""


def instance_folder() -> Path:
    """The folder whose config.py `flask --app portal` reads (PORTAL_INSTANCE_PATH, or the
    portal's default), asked of the portal itself so that the two always agree."""
    return Path(create_app({"DEMO": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).instance_path)


def write_instance_config(folder: Path, settings: dict) -> Path:
    """Write `settings` as the instance's config.py, unless it holds someone else's settings."""
    config = folder / "config.py"
    if config.exists() and not config.read_text().startswith(DEMO_CONFIG_MARK):
        raise DemoRefused(
            f"{config} holds another installation's settings, and the demo writes its own there.\n"
            "Move it away, or give the demo another folder: PORTAL_INSTANCE_PATH=/tmp/portal-demo make run")
    lines = [DEMO_CONFIG_MARK + " at each start. It is what `flask --app portal ...` uses",
             "# against the demo. Delete it, and demo.sqlite, before using this checkout for anything else.",
             *(f"{key} = {value!r}" for key, value in settings.items())]
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)  # it holds a session key
    return config


def seed_demo_data(sandbox_url: str) -> None:
    """Add the demo people and the sandbox's exams, leaving anything already there alone."""
    for email, name, password, staff in DEMO_PEOPLE:
        with suppress(PersonExists):  # from an earlier run
            create_person(email, name, password, staff=staff, by=None)
    for spec in SANDBOX_EXAMS:
        # The sandbox's port may differ between runs; keep the launch URL pointing at it.
        exam_url = f"{sandbox_url}/exams/run/{spec['slug']}/start/"
        exam = db.session.scalar(sa.select(Exam).where(Exam.testpress_id == spec["id"]))
        if exam is None:
            add_exam(spec["title"], exam_url, testpress_id=spec["id"], description=spec["description"], by=None)
        else:
            update_exam(exam, exam_url=exam_url, by=None)
    db.session.commit()


# One batch with one exam for it, so that the demo shows who sees what: Asha is in it and sees
# the exam, Ravi is not and does not (his earlier attempts at it stay in his history).
DEMO_BATCH, DEMO_BATCH_MEMBERS, DEMO_BATCH_EXAM = "Morning batch", ["asha@example.com"], 3  # a Testpress id


def seed_demo_batch() -> None:
    """The demo's batch and its exam's rules, set once (staff may change them in the demo).

    Apart from seed_demo_data, which the browser tests share: their students, in no batch,
    take every sandbox exam.
    """
    if find_batch(DEMO_BATCH) is not None:
        return
    batch = create_batch(DEMO_BATCH, by=None)
    add_members(batch, db.session.scalars(sa.select(User).where(User.email.in_(DEMO_BATCH_MEMBERS))))
    exam = db.session.scalar(sa.select(Exam).where(Exam.testpress_id == DEMO_BATCH_EXAM))
    update_exam(exam, batches=[batch], attempts_allowed=10, counting_rule="best", by=None,
                instructions="Only for the Morning batch. 10 attempts allowed; your best one counts.")
    db.session.commit()


# A few weeks of each student's past attempts: (days ago, exam's index in SANDBOX_EXAMS,
# correct answers, how Testpress confirmed the result). "webhook" and "api" are verified;
# "return" alone is not yet; "flagged" is a return claiming more than Testpress's webhook.
HISTORY = {
    "asha@example.com": [(24, 0, 3, "api"), (20, 1, 2, "webhook"), (17, 2, 3, "api"), (13, 0, 4, "webhook"),
                         (10, 1, 3, "api"), (6, 2, 4, "webhook"), (2, 0, 5, "return")],
    "ravi@example.com": [(23, 1, 1, "webhook"), (19, 0, 2, "api"), (15, 2, 2, "webhook"), (12, 1, 2, "api"),
                         (8, 0, 3, "flagged"), (4, 2, 3, "webhook"), (1, 1, 3, "return")],
}


def seed_demo_history(now: datetime | None = None) -> None:
    """Give each demo student a few weeks of attempts, recorded as the portal records any
    result (launch, browser return, then Testpress's word), so that the dashboard, the
    charts and the history have something to show.

    Only for a student with no attempt older than a day, so that running the demo again adds
    nothing. These attempts carry no Testpress attempt id: the sandbox has never seen them,
    so the portal offers no review of them, and a sync leaves them alone.
    """
    now = now or datetime.now(UTC)
    exams = [db.session.scalar(sa.select(Exam).where(Exam.testpress_id == spec["id"])) for spec in SANDBOX_EXAMS]
    for email, history in HISTORY.items():
        student = db.session.scalar(sa.select(User).where(User.email == email))
        day_ago = (now - timedelta(days=1)).replace(tzinfo=None)
        if db.session.scalar(sa.select(Attempt.id).where(Attempt.student == student, Attempt.started_at < day_ago)):
            continue
        for days_ago, exam_index, correct, confirmation in history:
            started = now - timedelta(days=days_ago, hours=3)
            attempt = record_launch(student, exams[exam_index], now=started)
            total = len(SANDBOX_EXAMS[exam_index]["questions"])
            finished = (started + timedelta(minutes=12)).replace(tzinfo=None)
            claimed = total if confirmation == "flagged" else correct
            with write_transaction():  # as the return and the webhook record a result
                record_report(attempt, _demo_report("return", claimed, total, finished), now=finished)
                if confirmation != "return":
                    source = "api" if confirmation == "api" else "webhook"
                    record_report(attempt, _demo_report(source, correct, total, finished),
                                  now=finished + timedelta(minutes=1))


def _demo_report(source: str, correct: int, total: int, completed_at: datetime) -> Report:
    unanswered = 1 if correct < total - 1 else 0
    details = {} if source == "webhook" else {"max_score": float(total), "rank": 1 + total - correct, "max_rank": 40}
    return Report(source=source, status="completed", total_count=total, correct_count=correct,
                  incorrect_count=total - correct - unanswered, unanswered_count=unanswered, score=float(correct),
                  percentage=round(100 * correct / total, 2), completed_at=completed_at, **details)


def prepare(portal_url: str, sandbox_url: str, mail_port: int = 5025) -> Flask:
    """Write the demo's instance config, bring its database up to date with its people,
    exams and history; return the portal, built from that config as the CLI builds it."""
    folder = instance_folder()
    write_instance_config(folder, demo_settings(sandbox_url, mail_port))
    portal = create_app()
    with portal.app_context():
        init_database()  # creates the SQLite file on the first run
        seed_demo_data(sandbox_url)
        seed_demo_batch()
        seed_demo_history()
    return portal


def busy_ports(ports: dict[str, tuple[str, int]]) -> list[str]:
    """The names of the (host, port) addresses that something else is listening on."""
    busy = []
    for name, (host, port) in ports.items():
        with socket.socket() as probe:
            # As the servers will bind: SO_REUSEADDR, so a port left in TIME_WAIT is not busy.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                busy.append(name)
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m portal_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", 5001)))
    parser.add_argument("--mail-port", type=int, default=int(os.environ.get("MAIL_PORT", 5025)))
    options = parser.parse_args()

    # Checked before anything starts: Werkzeug would print its own advice and exit instead.
    addresses = {f"port {options.port} (the portal)": ("127.0.0.1", options.port),
                 f"port {options.sandbox_port} (the Testpress sandbox)": ("127.0.0.1", options.sandbox_port),
                 f"port {options.mail_port} (the mail catcher)": ("127.0.0.1", options.mail_port)}
    if busy := busy_ports(addresses):
        print(f"Cannot start the demo: {' and '.join(busy)} {'is' if len(busy) == 1 else 'are'} in use "
              "by another program.\nChoose free ports, for example: make run PORT=5050 SANDBOX_PORT=5051 "
              "MAIL_PORT=5052", file=sys.stderr)
        raise SystemExit(PORT_BUSY)

    portal_url = f"http://127.0.0.1:{options.port}"
    sandbox_url = f"http://localhost:{options.sandbox_port}"
    portal = prepare(portal_url, sandbox_url, options.mail_port)
    sandbox_app = create_sandbox_app({
        "WEBHOOK_URL": f"{portal_url}/testpress/webhook",
        "DATABASE": str(Path(portal.instance_path) / "sandbox.sqlite"),
    })
    portal_server = make_server("127.0.0.1", options.port, portal, threaded=True, request_handler=RequestLog)
    sandbox = start_in_thread(sandbox_app, host="localhost", port=options.sandbox_port)
    catcher = mailbox(sandbox_app)
    catcher.start_smtp("127.0.0.1", options.mail_port)
    stop_worker = threading.Event()
    worker = start_worker(portal, stop_worker)

    print(f"\n  Portal            {portal_url}")
    for email, _name, password, staff in DEMO_PEOPLE:
        print(f"    log in as       {email} / {password}{'   (staff)' if staff else ''}")
    print(f"  Testpress sandbox {sandbox.url}   (webhook log, faults, evaluations)")
    print(f"  Mail received     {sandbox.url}/sandbox/mail/   (what the portal emails; a worker runs in the demo)")
    print(f"  Commands          `. .venv/bin/activate`, then e.g. `flask --app portal testpress sync`:\n"
          f"                    they use the demo's settings, {Path(portal.instance_path) / 'config.py'}")
    print("  Deploying? Behind nginx or any proxy set PORTAL_PROXY_COUNT, or every student shares\n"
          "  the proxy's address and one student's failed logins lock out all (README, Deploying).")
    print("  Stop with Ctrl+C.\n", flush=True)
    try:
        portal_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop_worker.set()
        worker.join(timeout=30)
        catcher.stop()
        sandbox.stop()


def start_worker(portal: Flask, stop: threading.Event) -> threading.Thread:
    """The worker (`flask --app portal worker`) in a thread of the demo: the sync, the outbox."""
    from portal.jobs.worker import run_forever

    def work() -> None:
        with portal.app_context():
            run_forever(stop)

    thread = threading.Thread(target=work, name="portal-worker", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    main()
