"""`python -m portal.demo` (the README's `make run`): the portal and the Testpress sandbox,
side by side with demo data, ready to click through.

The portal listens on 127.0.0.1 and the sandbox on localhost: two different sites to the
browser, as the institute and Testpress are in production, so the cross-site return is
exercised for real.
"""

from __future__ import annotations

import argparse
import os
import secrets

import sqlalchemy as sa
from werkzeug.serving import make_server

from portal import PROJECT_ROOT, create_app
from portal.database import init_database
from portal.extensions import db
from portal.models import Exam, User
from portal.passwords import hash_password
from testpress_sandbox import create_app as create_sandbox_app
from testpress_sandbox.config import DEFAULTS as SANDBOX
from testpress_sandbox.seed import EXAMS as SANDBOX_EXAMS
from testpress_sandbox.server import start_in_thread

# email, name, password, staff. Demo-only accounts in a demo-only database.
DEMO_PEOPLE = [
    ("asha@example.com", "Asha Rao", "asha-demo-pass", False),
    ("ravi@example.com", "Ravi Kumar", "ravi-demo-pass", False),
    ("staff@example.com", "Priya Staff", "staff-demo-pass", True),
]


def demo_settings(sandbox_url: str) -> dict:
    """The portal's settings for the demo: the sandbox's identity, plain-HTTP cookies."""
    return {
        "DEMO": True,
        # A fresh key each start: demo sessions simply end when the demo stops.
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{PROJECT_ROOT / 'instance' / 'demo.sqlite'}",
        "TESTPRESS_BASE_URL": sandbox_url,
        "TESTPRESS_PUBLIC_KEY": SANDBOX["PUBLIC_KEY"],
        "TESTPRESS_SECRET": SANDBOX["SECRET"],
        "TESTPRESS_PRIVATE_KEY": SANDBOX["PRIVATE_KEY"],
        "TESTPRESS_API_USERNAME": SANDBOX["API_USERNAME"],
        "TESTPRESS_API_PASSWORD": SANDBOX["API_PASSWORD"],
        "TESTPRESS_PERCENT_ENCODING": SANDBOX["PERCENT_ENCODING"],
    }


def seed_demo_data(sandbox_url: str) -> None:
    """Add the demo people and the sandbox's exams, leaving anything already there alone."""
    for email, name, password, staff in DEMO_PEOPLE:
        if not db.session.scalar(sa.select(User.id).where(User.email == email)):
            db.session.add(User(email=email, name=name, is_staff=staff, password_hash=hash_password(password)))
    for spec in SANDBOX_EXAMS:
        exam = db.session.scalar(sa.select(Exam).where(Exam.testpress_id == spec["id"]))
        if exam is None:
            exam = Exam(testpress_id=spec["id"], title=spec["title"], description=spec["description"])
            db.session.add(exam)
        # The sandbox's port may differ between runs; keep the launch URL pointing at it.
        exam.exam_url = f"{sandbox_url}/exams/run/{spec['slug']}/start/"
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m portal.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    parser.add_argument("--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", 5001)))
    options = parser.parse_args()

    portal_url = f"http://127.0.0.1:{options.port}"
    sandbox_url = f"http://localhost:{options.sandbox_port}"
    portal = create_app(demo_settings(sandbox_url))
    with portal.app_context():
        init_database()
        seed_demo_data(sandbox_url)
    sandbox_app = create_sandbox_app({
        "WEBHOOK_URL": f"{portal_url}/testpress/webhook",
        "DATABASE": str(PROJECT_ROOT / "instance" / "sandbox.sqlite"),
    })
    try:
        portal_server = make_server("127.0.0.1", options.port, portal, threaded=True)
        sandbox = start_in_thread(sandbox_app, host="localhost", port=options.sandbox_port)
    except OSError as error:
        raise SystemExit(f"A port is busy ({error.strerror}): choose others, e.g. "
                         "`make run PORT=5050 SANDBOX_PORT=5051`.") from None

    print(f"\n  Portal            {portal_url}")
    for email, _name, password, staff in DEMO_PEOPLE:
        print(f"    log in as       {email} / {password}{'   (staff)' if staff else ''}")
    print(f"  Testpress sandbox {sandbox.url}   (webhook log, faults, evaluations)")
    print("  Stop with Ctrl+C.\n", flush=True)
    try:
        portal_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
