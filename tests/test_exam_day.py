"""Exam day against the production server: the portal under a multi-worker gunicorn.

- Race: each browser return is sent at the same instant as its signed webhook, pair after
  pair; every attempt must end with the webhook's signed score.
- Load: 4 workers, 32 clients, 2,000 distinct signed webhooks, 500 duplicates and 500
  returns each racing its own webhook: every answer a 2xx/303, one attempt per Testpress
  attempt, every signed score kept, and no "database is locked" anywhere.

Both print their figures (run with `make load` to see them); nothing here is timed.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from portal.core.database import init_database
from portal.core.extensions import db
from portal.models import Attempt, User
from portal.testpress.signing import launch_hmac
from tests import CHECKOUT
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_user
from tests.web.testpress.test_webhook import completed_payload, signed_body

pytestmark = pytest.mark.load
ROOT = CHECKOUT
RETURNED_SCORE = 199.0  # what every return claims: never the signed score, so an overwrite shows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(database_uri: str, workers: int, log_path: Path):
    """The portal under `gunicorn -w workers`, configured as the test installation."""
    port = free_port()
    settings = {key: value for key, value in TEST_SETTINGS.items() if key not in ("TESTING", "WTF_CSRF_ENABLED")}
    env = {**os.environ, **{f"PORTAL_{key}": str(value) for key, value in settings.items()},
           "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri, "PORTAL_SESSION_COOKIE_SECURE": "false"}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
             "--timeout", "60", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    # The login page, not /healthz: these databases are made by create_all,
                    # without the migrations' version table that /healthz asks for.
                    if requests.get(f"{url}/login", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
                time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(15)


@pytest.fixture
def installation(make_app, tmp_path):
    """A database with 50 students and two exams, and the app to seed it through."""
    app = make_app()
    with app.app_context():
        # Built by the migrations, as init-db builds it: /healthz, which gunicorn() waits
        # for, answers 200 only at the migrations' head revision.
        db.drop_all()
        init_database()
        students = [make_user(f"student{n}@example.com", f"Student {n}", testpress_user_id=5000 + n)
                    for n in range(50)]
        launched_exam, outside_exam = make_exam("Mock 1", testpress_id=12), make_exam("Mock 2", testpress_id=13)
        yield app, students, launched_exam, outside_exam
        db.session.remove()


def signed_return(attempt: Attempt) -> dict:
    fields = {"email": attempt.student.email, "first_name": attempt.student.name, "status": "completed",
              "attempt_id": str(attempt.institute_attempt_id % 10**9),
              "institute_attempt_id": str(attempt.institute_attempt_id),
              "total_count": "50", "correct_count": "50", "incorrect_count": "0", "unanswered_count": "0",
              "score": f"{RETURNED_SCORE:g}", "max_score": "200", "percentage": "99.5", "rank": "1", "max_rank": "9"}
    fields["hmac"] = launch_hmac(TEST_SETTINGS["TESTPRESS_SECRET"], email=fields["email"],
                                 first_name=fields["first_name"], institute_attempt_id=fields["institute_attempt_id"],
                                 key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"], time=attempt.launch_time)
    return fields


def signed_score(testpress_id: int) -> float:
    return float(testpress_id % 150)


def signed_webhook(testpress_id: int, student: User, exam_id: int, institute_attempt_id: int | None) -> bytes:
    score = signed_score(testpress_id)
    return signed_body(completed_payload(
        attempt_id=testpress_id, email=student.email, user_id=student.testpress_user_id,
        exam={"id": exam_id}, institute_attempt_id=institute_attempt_id,
        correct_answers_count=int(score) // 4, score=f"{score:.2f}", percentage=f"{score / 2:.2f}",
    ))


class Clients:
    """Requests from many threads, each with its own connection, timing every answer."""

    def __init__(self, url: str):
        self.url, self.local, self.timings = url, threading.local(), []

    def send(self, request: tuple[str, object]) -> int:
        kind, body = request
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        session = self.local.session
        started = time.perf_counter()
        if kind == "return":
            response = session.post(f"{self.url}/testpress/return", data=body, allow_redirects=False, timeout=60)
        else:
            response = session.post(f"{self.url}/testpress/webhook", data=body, timeout=60,
                                    headers={"Content-Type": "application/json"})
        self.timings.append(time.perf_counter() - started)
        return response.status_code


def figures(title: str, count: int, seconds: float, timings: list[float]) -> str:
    ordered = sorted(timings)
    return (f"\n{title}: {count} requests in {seconds:.1f} s ({count / seconds:.0f}/s); latency median "
            f"{statistics.median(ordered) * 1000:.0f} ms, p95 {ordered[int(len(ordered) * 0.95)] * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms")


def stored_attempts() -> dict[str, Attempt]:
    db.session.rollback()
    return {a.testpress_attempt_id: a for a in db.session.scalars(sa.select(Attempt)) if a.testpress_attempt_id}


def test_race_each_return_sent_with_its_webhook_ends_with_the_signed_score(installation, tmp_path, capsys):
    app, students, exam, _ = installation
    launches = [make_attempt(students[n % 50], exam, institute_attempt_id=7_000_000 + n) for n in range(40)]
    pairs = [(signed_return(a), signed_webhook(880_000 + n, a.student, 12, a.institute_attempt_id))
             for n, a in enumerate(launches)]
    log = tmp_path / "gunicorn.log"

    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], 2, log) as url:
        clients = Clients(url)
        started = time.perf_counter()
        answers = []
        for returned, webhook_body in pairs:
            together = threading.Barrier(2)

            def send(request, together=together):
                together.wait()
                return clients.send(request)

            with ThreadPoolExecutor(2) as pool:
                answers.append(tuple(pool.map(send, [("return", returned), ("webhook", webhook_body)])))
        seconds = time.perf_counter() - started

    with capsys.disabled():
        print(figures("race, 40 return/webhook pairs at once, gunicorn -w 2", 80, seconds, clients.timings))
    assert answers == [(303, 200)] * len(pairs)
    attempts = stored_attempts()
    assert len(attempts) == len(db.session.scalars(sa.select(Attempt)).all()) == len(launches)
    wrong = [(tp, a.score, a.score_source) for tp, a in attempts.items()
             if (a.score, a.score_source) != (signed_score(int(tp)), "webhook")]
    assert not wrong, f"{len(wrong)} of {len(pairs)} attempts lost the signed score: {wrong[:5]}"
    assert all(a.flagged for a in attempts.values())  # every return claimed 199
    assert "database is locked" not in log.read_text()


def test_load_four_workers_thirty_two_clients(installation, tmp_path, capsys):
    app, students, launched_exam, outside_exam = installation
    launches = [make_attempt(students[n % 50], launched_exam, institute_attempt_id=8_000_000 + n) for n in range(500)]
    webhooks = [("webhook", signed_webhook(900_000 + n, a.student, 12, a.institute_attempt_id))
                for n, a in enumerate(launches)]
    webhooks += [("webhook", signed_webhook(910_000 + n, students[n % 50], 13, None)) for n in range(1500)]
    returns = [("return", signed_return(a)) for a in launches]
    duplicates = random.Random(7).sample(webhooks, 500)
    requests_to_send = webhooks + duplicates + returns
    random.Random(11).shuffle(requests_to_send)
    log = tmp_path / "gunicorn.log"

    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], 4, log) as url:
        clients = Clients(url)
        started = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            answers = Counter(pool.map(clients.send, requests_to_send))
        seconds = time.perf_counter() - started

    with capsys.disabled():
        print(figures("load, gunicorn -w 4, 32 clients", len(requests_to_send), seconds, clients.timings))
        print(f"answers: {dict(answers)}")
    assert set(answers) <= {200, 303}, answers
    assert answers[303] == 500
    attempts = stored_attempts()
    all_attempts = db.session.scalars(sa.select(Attempt)).all()
    assert len(all_attempts) == len(attempts) == 2000  # one per Testpress attempt, launches included
    lost = [tp for tp, a in attempts.items() if (a.score, a.score_source) != (signed_score(int(tp)), "webhook")]
    assert not lost, f"{len(lost)} signed scores lost, e.g. {lost[:5]}"
    assert "database is locked" not in log.read_text()
