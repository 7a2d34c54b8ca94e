"""Sync now: a sync started from the staff pages, in the background, one at a time across
every worker and server (two apps on one database here), its progress on its page, its
outcome in the runs list; the command line shares the rule, and a dead run's lease expires."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

import portal_demo
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Attempt, AuditEntry, SyncRun
from portal.testpress import sync
from portal.testpress.client import Page
from portal.web.admin import testpress as admin_testpress
from tests.factories import PASSWORD, make_exam, make_staff, make_user

WAIT = 20  # seconds, at most, for a background run to get somewhere


def api_attempt(number: int) -> dict:
    """One completed attempt of Asha's at exam 12, as the Admin API lists it."""
    return {"id": 9000 + number, "user_id": 311, "email": "asha@example.com", "exam_id": 12, "state": "Completed",
            "date": f"2026-11-30T09:{number:02d}:00Z", "completed_on": f"2026-11-30T10:{number:02d}:00Z",
            "total_count": 50, "correct_answers_count": 40, "incorrect_answers_count": 5, "unanswered_count": 5,
            "score": 160, "max_score": 200, "percentage": 80.0}


class GatedApi:
    """A fake Admin API whose pages of attempts each wait until the test releases them, so
    that a run can be watched between its pages."""

    def __init__(self, *pages: list[dict]):
        self.pages = pages
        self.gates = [threading.Event() for _ in pages]

    def release(self, index: int) -> None:
        self.gates[index].set()

    def release_all(self) -> None:
        for gate in self.gates:
            gate.set()

    def list_exams(self) -> list[dict]:
        return []

    def iter_users(self):
        return iter(())

    def iter_attempts(self, **filters):
        total = sum(len(page) for page in self.pages)

        def pages():
            for gate, results in zip(self.gates, self.pages, strict=True):
                if not gate.wait(WAIT):
                    raise AssertionError("the test never released this page")
                yield Page(count=total, results=results)

        return pages()


@pytest.fixture
def api(monkeypatch):
    """Two pages: three attempts, then two; every app's Sync now uses this client."""
    fake = GatedApi([api_attempt(n) for n in range(3)], [api_attempt(n) for n in range(3, 5)])
    monkeypatch.setattr(admin_testpress.TestpressClient, "from_settings", classmethod(lambda cls, settings: fake))
    yield fake
    fake.release_all()  # never leave a run's thread waiting


def logged_in_client(app):
    client = app.test_client()
    response = client.post("/login", data={"email": "priya@example.com", "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def two_servers(make_app):
    """Two portal apps on one database, as two servers (or gunicorn workers) are."""
    first, second = make_app(), make_app()
    with first.app_context():
        make_staff("priya@example.com", name="Priya Staff")
        make_user("asha@example.com", testpress_user_id=311)
        make_exam(testpress_id=12)
    return first, second


def run_row(app, run_id: int) -> SyncRun:
    with app.app_context():
        run = db.session.get(SyncRun, run_id)
        db.session.expunge(run)
        return run


def wait_for(app, run_id: int, condition) -> SyncRun:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        run = run_row(app, run_id)
        if condition(run):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never got there: {run.status}, {run.pages_done} pages, "
                         f"{run.error}, {run.lease_until}")


def press(client):
    return client.post("/admin/testpress/sync")


def test_a_second_press_on_another_server_says_one_is_running_and_links_to_it(two_servers, api):
    first, second = two_servers
    on_first, on_second = logged_in_client(first), logged_in_client(second)

    started = press(on_first)
    assert started.status_code == 302
    run_id = int(re.fullmatch(r"/admin/testpress/runs/(\d+)", started.headers["Location"]).group(1))

    refused = press(on_second)
    assert refused.status_code == 302 and refused.headers["Location"] == f"/admin/testpress/runs/{run_id}"
    page = on_second.get(refused.headers["Location"]).get_data(as_text=True)
    assert f"A sync is already running (run {run_id})" in page
    overview = on_second.get("/admin/testpress/").get_data(as_text=True)
    assert f'href="/admin/testpress/runs/{run_id}"' in overview and "running" in overview
    # The command line (and cron) meet the same rule, from either server.
    command = second.test_cli_runner().invoke(args=["testpress", "sync"])
    assert command.exit_code == 1 and f"sync run {run_id} is already running" in command.output
    with second.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 1

    api.release_all()
    finished = wait_for(first, run_id, lambda run: run.status != "running")
    assert (finished.status, finished.new, finished.running_slot) == ("ok", 5, None)
    # Once it is over, a press starts a new run, from the other server too.
    api.gates = [threading.Event() for _ in api.pages]
    api.release_all()
    again = press(on_second)
    assert again.headers["Location"] != f"/admin/testpress/runs/{run_id}"
    new_id = int(again.headers["Location"].rsplit("/", 1)[1])
    assert wait_for(second, new_id, lambda run: run.status != "running").status == "ok"


def test_progress_shows_on_the_runs_page_while_it_runs(two_servers, api):
    first, _ = two_servers
    client = logged_in_client(first)
    run_id = int(press(client).headers["Location"].rsplit("/", 1)[1])

    page = client.get(f"/admin/testpress/runs/{run_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "Pages done</dt><dd>0" in page

    api.release(0)
    wait_for(first, run_id, lambda run: run.pages_done == 1)
    page = client.get(f"/admin/testpress/runs/{run_id}").get_data(as_text=True)
    assert "Pages done</dt><dd>1" in page
    assert "3 of 5:" in page and "3 new, 0 updated, 0 unchanged, 0 unmatched" in page
    assert 'http-equiv="refresh"' in page and "running" in page
    with first.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attempt)) == 3  # the page is committed

    api.release(1)
    run = wait_for(first, run_id, lambda run: run.status != "running")
    assert (run.status, run.pages_done, run.new, run.expected) == ("ok", 2, 5, 5)
    page = client.get(f"/admin/testpress/runs/{run_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "5 of 5:" in page and "by Priya Staff" in page
    runs = client.get("/admin/testpress/runs/").get_data(as_text=True)
    assert f'href="/admin/testpress/runs/{run_id}"' in runs and "badge-verified\">ok" in runs
    with first.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "sync.start"))
        assert entry.target_id == run_id and entry.actor.name == "Priya Staff"


def test_only_one_of_many_simultaneous_starts_wins(two_servers):
    apps = two_servers
    barrier, outcomes = threading.Barrier(6), []

    def start(app):
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(("started", sync.begin_sync().id))
            except sync.SyncAlreadyRunning as running:
                outcomes.append(("refused", running.run.id if running.run else None))

    threads = [threading.Thread(target=start, args=(apps[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    started = [run_id for kind, run_id in outcomes if kind == "started"]
    assert len(outcomes) == 6 and len(started) == 1
    assert all(run_id == started[0] for kind, run_id in outcomes if kind == "refused")


def test_a_run_whose_lease_ran_out_is_taken_over(two_servers, api):
    first, second = two_servers
    with first.app_context():
        dead = SyncRun(status="running", running_slot=1, lease_until=utcnow() - timedelta(seconds=1))
        db.session.add(dead)
        db.session.commit()
        dead_id = dead.id
    client = logged_in_client(second)
    page = client.get(f"/admin/testpress/runs/{dead_id}").get_data(as_text=True)
    assert "stopped answering" in page and 'http-equiv="refresh"' not in page

    api.release_all()
    new_id = int(press(client).headers["Location"].rsplit("/", 1)[1])

    assert new_id != dead_id
    old = run_row(first, dead_id)
    assert (old.status, old.running_slot) == ("failed", None) and "stopped without finishing" in old.error
    assert wait_for(first, new_id, lambda run: run.status != "running").status == "ok"


def test_a_one_attempt_run_whose_worker_died_shows_as_stopped_and_is_closed(two_servers, api):
    # "Ask the Admin API now" holds no lease: a worker killed mid-call left it running forever.
    first, second = two_servers
    with first.app_context():
        dead = SyncRun(status="running", started_at=utcnow() - sync.UNLEASED_RUN_LIMIT - timedelta(seconds=1))
        recent = SyncRun(status="running", started_at=utcnow() - timedelta(seconds=5))
        db.session.add_all([dead, recent])
        db.session.commit()
        dead_id, recent_id = dead.id, recent.id
    client = logged_in_client(second)
    page = client.get(f"/admin/testpress/runs/{dead_id}").get_data(as_text=True)
    assert "stopped answering" in page and "never finished" in page and 'http-equiv="refresh"' not in page
    assert "stopped answering" not in client.get(f"/admin/testpress/runs/{recent_id}").get_data(as_text=True)

    api.release_all()
    new_id = int(press(client).headers["Location"].rsplit("/", 1)[1])  # any sync's start closes it

    old = run_row(first, dead_id)
    assert (old.status, old.finished_at is not None) == ("failed", True) and "stopped without finishing" in old.error
    assert run_row(first, recent_id).status == "running"  # still asking, for all anyone knows
    assert wait_for(first, new_id, lambda run: run.status != "running").status == "ok"


def test_a_live_run_whose_lease_ran_out_stops_at_its_next_page(two_servers, api):
    first, second = two_servers
    client = logged_in_client(first)
    slow_id = int(press(client).headers["Location"].rsplit("/", 1)[1])
    with second.app_context():  # its worker stalls past its lease, and another run takes over
        db.session.execute(sa.update(SyncRun).where(SyncRun.id == slow_id)
                           .values(lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        taker_id = sync.begin_sync().id

    api.release_all()
    slow = wait_for(first, slow_id, lambda run: run.lease_until is None)

    assert slow.status == "failed" and slow.pages_done == 0 and slow.new == 0  # its page was not recorded
    with first.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attempt)) == 0
        assert db.session.get(SyncRun, taker_id).running_slot == 1  # the taker still holds the slot


def test_sync_now_without_testpress_settings_says_so(make_app):
    app = make_app(TESTPRESS_API_PASSWORD="")
    with app.app_context():
        make_staff("priya@example.com")
    client = logged_in_client(app)
    response = press(client)
    assert response.headers["Location"] == "/admin/testpress/"
    assert ("Cannot sync: TESTPRESS_API_USERNAME and TESTPRESS_API_PASSWORD"
            in client.get("/admin/testpress/").get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 0


@pytest.mark.slow
def test_sync_now_works_in_the_demo_as_shipped(tmp_path, monkeypatch, live_sandbox):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    live_sandbox.seed(3, users=1)
    app = portal_demo.prepare("http://127.0.0.1:5000", live_sandbox.url)
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "staff@example.com", "password": "staff-demo-pass",
                                "csrf_token": token.group(1)})
    overview = client.get("/admin/testpress/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', overview).group(1)

    response = client.post("/admin/testpress/sync", data={"csrf_token": token})

    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/testpress/runs/")
    run = wait_for(app, int(response.headers["Location"].rsplit("/", 1)[1]), lambda run: run.status != "running")
    assert (run.status, run.error, run.attempts_done) == ("ok", None, 3)
