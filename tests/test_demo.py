"""The demo (`make run`): its commands work as the pages print them, its data is not empty,
and a busy port is named."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

import portal_demo
from portal import create_app
from portal.core.extensions import db
from portal.models import Attempt, SyncRun, User
from tests import CHECKOUT


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """The portal's instance folder for this test, as PORTAL_INSTANCE_PATH gives it to every process."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(folder))
    return folder


def run(*command: str, cwd) -> subprocess.CompletedProcess:
    """A command as a person types it: the test run's own PORTAL_* settings are not theirs."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("PORTAL_") or key == "PORTAL_INSTANCE_PATH"}
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_the_commands_the_pages_print_work_against_the_demo(instance, live_sandbox, tmp_path):
    live_sandbox.seed(3, users=1)
    portal_demo.prepare("http://127.0.0.1:5000", live_sandbox.url)

    # As the dashboard prints it, from another directory, with nothing but the instance folder.
    sync = run("flask", "--app", "portal", "testpress", "sync", cwd=tmp_path)
    added = run("flask", "--app", "portal", "create-user", "meera@example.com", "--name", "Meera",
                "--password", "meera-demo-pass", cwd=tmp_path)

    assert sync.returncode == 0, sync.stderr
    assert "Synced 3 attempts" in sync.stdout
    assert added.returncode == 0, added.stderr
    with create_app().app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 1
        assert db.session.scalar(sa.select(User.name).where(User.email == "meera@example.com")) == "Meera"


def test_the_demo_holds_weeks_of_attempts_some_verified_one_flagged_and_adds_them_once(instance):
    portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")
    portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")  # a second `make run`

    with create_app().app_context():
        for email in portal_demo.HISTORY:
            student = db.session.scalar(sa.select(User).where(User.email == email))
            attempts = db.session.scalars(sa.select(Attempt).where(Attempt.student == student)).all()
            assert len(attempts) == len(portal_demo.HISTORY[email])
            assert max(a.started_at for a in attempts) - min(a.started_at for a in attempts) > timedelta(days=14)
            assert len({a.exam_id for a in attempts}) >= 2
            assert all(a.status == "completed" and a.score is not None for a in attempts)
            assert any(a.verified for a in attempts) and not all(a.verified for a in attempts)
            assert all(len(a.reports) >= 1 for a in attempts)
        flagged = db.session.scalars(sa.select(Attempt).where(Attempt.flagged)).all()
        assert len(flagged) == 1
        assert "browser return claimed" in flagged[0].flag_reason


def test_the_staff_dashboard_of_the_demo_is_not_empty(instance):
    app = portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")
    client = app.test_client()
    # The demo's CSRF protection is on, as in production: log in with the form's token.
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "staff@example.com", "password": "staff-demo-pass", "csrf_token": token[1]})

    dashboard = client.get("/admin/")
    flagged = client.get("/admin/attempts/?flagged=1")

    total = sum(len(history) for history in portal_demo.HISTORY.values())
    assert dashboard.status_code == 200
    assert f"<b>{total}</b></a><span>attempts</span>" in dashboard.get_data(as_text=True)
    assert "<b>1</b></a><span>flag to resolve" in dashboard.get_data(as_text=True)
    assert "Ravi Kumar" in flagged.get_data(as_text=True)
    assert "Asha Rao" not in flagged.get_data(as_text=True)


def test_the_demos_batch_exam_is_shown_to_its_member_only(instance):
    app = portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")
    seen = {}
    for email, password in (("asha@example.com", "asha-demo-pass"), ("ravi@example.com", "ravi-demo-pass")):
        client = app.test_client()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          client.get("/login").get_data(as_text=True))
        client.post("/login", data={"email": email, "password": password, "csrf_token": token[1]})
        seen[email] = client.get("/exams/").get_data(as_text=True)

    assert ">Maths Drill</h2>" in seen["asha@example.com"] and "Only for the Morning batch." in seen["asha@example.com"]
    assert ">Maths Drill</h2>" not in seen["ravi@example.com"]
    assert ">Physics Mock 1</h2>" in seen["ravi@example.com"]


def test_the_demo_shows_times_in_an_institutes_zone_not_utc(instance):
    app = portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "asha@example.com", "password": "asha-demo-pass", "csrf_token": token[1]})

    history = client.get("/attempts/").get_data(as_text=True)

    assert re.search(r"<time [^>]+>\d\d \w{3} \d{4}, \d\d:\d\d IST</time>", history)
    assert " UTC</time>" not in history


def test_the_demo_leaves_a_real_instance_config_alone(instance):
    instance.mkdir()
    (instance / "config.py").write_text("SECRET_KEY = 'the institute s own key, not the demo s'\n")

    with pytest.raises(portal_demo.DemoRefused, match="another installation's settings"):
        portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:5001")
    assert (instance / "config.py").read_text().startswith("SECRET_KEY = 'the institute")


@pytest.mark.slow
def test_a_busy_port_is_named_with_how_to_choose_others(instance, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with socket.socket() as free_probe:
            free_probe.bind(("127.0.0.1", 0))
            free = free_probe.getsockname()[1]
        result = run("portal_demo", "--port", str(busy), "--sandbox-port", str(free), cwd=CHECKOUT)

    assert result.returncode == portal_demo.PORT_BUSY
    assert f"port {busy} (the portal)" in result.stderr
    assert f"port {free}" not in result.stderr
    assert "make run PORT=5050 SANDBOX_PORT=5051" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (instance / "config.py").exists()  # checked before anything was written


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def readme_commands(after: str) -> list[str]:
    """The shell commands of the README's first code block after the words `after`, a
    continued line joined, comments left out."""
    text = (CHECKOUT / "README.md").read_text()
    block = text[text.index(after):].split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return [line.strip() for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow
def test_the_sandbox_runs_apart_from_the_portal_as_the_readme_says_and_stops_alone(instance, tmp_path):
    """README, "The portal and Testpress apart": the sandbox started by its command, paired with
    the demo's portal by their settings, then stopped while the portal goes on ("Testpress is down")."""
    portal_port, sandbox_port = free_port(), free_port()
    portal_demo.prepare(f"http://127.0.0.1:{portal_port}", f"http://localhost:{sandbox_port}")
    sandbox_command, portal_command = readme_commands("**The portal and Testpress apart.**")
    assert portal_command == ".venv/bin/flask --app portal run --port 5000"
    # As typed in the checkout, on this test's ports and instance folder.
    words = shlex.split(sandbox_command.replace("$PWD/instance", str(instance))
                        .replace("5000", str(portal_port)).replace("5001", str(sandbox_port)))
    settings = dict(word.split("=", 1) for word in words if "=" in word and word.startswith("SANDBOX_"))
    program = [word for word in words if not word.startswith("SANDBOX_")]
    assert program[:3] == [".venv/bin/python", "-m", "testpress_sandbox"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "SANDBOX_"))}
    sandbox = subprocess.Popen([sys.executable, *program[1:]], cwd=CHECKOUT, env=environment | settings,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it listens, 10 s at most
            with socket.socket() as probe:
                if probe.connect_ex(("localhost", sandbox_port)) == 0 or sandbox.poll() is not None:
                    break
            time.sleep(0.1)
        paired = run("flask", "--app", "portal", "testpress", "check", cwd=tmp_path)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    down = run("flask", "--app", "portal", "testpress", "check", cwd=tmp_path)

    assert settings["SANDBOX_DATABASE"] == str(instance / "sandbox.sqlite")  # the demo's own sandbox data
    assert paired.returncode == 0, paired.stdout + paired.stderr
    assert f"logged in to http://localhost:{sandbox_port}" in paired.stdout
    assert down.returncode == 1 and f"could not connect to localhost:{sandbox_port}" in down.stdout

def test_the_demo_emails_through_its_worker_to_the_sandboxs_mail_catcher(instance, tmp_path):
    import threading
    import time

    from portal.mail import outbox
    from portal.mail.messages import letter
    from portal.vocabulary import MailKind
    from testpress_sandbox import create_app as create_sandbox
    from testpress_sandbox.mailbox import mailbox
    from tests.conftest import free_port

    sandbox = create_sandbox({"TESTING": True, "DATABASE": str(tmp_path / "sandbox.sqlite"), "WEBHOOK_URL": ""})
    port = free_port()
    mailbox(sandbox).start_smtp("127.0.0.1", port)
    portal = portal_demo.prepare("http://127.0.0.1:5000", "http://localhost:1", mail_port=port)
    with portal.app_context():
        outbox.queue(MailKind.TEST, letter("test", "Test message"), to="asha@example.com", key="demo:1")
        db.session.commit()
    stop = threading.Event()
    worker = portal_demo.start_worker(portal, stop)
    try:
        for _ in range(100):
            if mailbox(sandbox).messages():
                break
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=30)
        mailbox(sandbox).stop()
    page = sandbox.test_client().get("/sandbox/mail/").get_data(as_text=True)
    assert "Demo Institute: Test message" in page and "asha@example.com" in page
