"""Exam day, simulated: N students log in, open their exams, start one, finish it, and read
their result, against the portal under `gunicorn -w 4`.

    .venv/bin/python bench/exam_day.py                       # 2,000 students, SQLite
    .venv/bin/python bench/exam_day.py --students 20000      # a big day
    PORTAL_TEST_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/exam_day.py   # PostgreSQL

(`make exam-day`, `make exam-day STUDENTS=20000`, `make exam-day-postgres`.)

Each student's finish is Testpress's two messages arriving within the same moment, in a
random order: the browser return (their browser, redirected) and the signed webhook. Both are
signed here by the Testpress sandbox's own signing rules (testpress_sandbox.signing), which
read the contract apart from the portal's: no sandbox server runs, so that the portal alone is
what is measured. A 503 (the recording lock stayed busy) is retried as the student's browser
and Testpress would retry it, and counted.

Prints per step the rate and p50/p95/p99, then checks that nothing was lost: every student
has exactly one attempt, with the webhook's signed score; no report is unmatched; the server
never logged "database is locked". The exit status is 0 only then. It asserts no time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox")]

from bench.serving import gunicorn  # noqa: E402
from portal import create_app  # noqa: E402
from portal.core.database import create_database_file, init_database  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402
from portal.models import Attempt, Exam, UnmatchedReport, User  # noqa: E402
from testpress_sandbox.signing import RETURN, signed_webhook_body  # noqa: E402

PASSWORD = "exam-day-password"
TESTPRESS_EXAM_ID = 12
SETTINGS = {
    "SECRET_KEY": "exam-day-secret-key-not-for-production",
    "TESTPRESS_BASE_URL": "https://testpress.example",
    "TESTPRESS_PUBLIC_KEY": "exam-day-public-key",
    "TESTPRESS_SECRET": "exam-day-secret",
    "TESTPRESS_PRIVATE_KEY": "exam-day-private-key",
    "SESSION_COOKIE_SECURE": "false",
    "REMEMBER_COOKIE_SECURE": "false",
    # A student logs in once, from their own address; here every student shares 127.0.0.1.
    "RATELIMIT_ENABLED": "false",
}
STEPS = ("log in", "exam list", "start", "return", "webhook", "results")
RETRIES = 20


def signed_score(number: int) -> float:
    return float(40 + number % 160)


def seed(database_uri: str, students: int) -> int:
    """A fresh database with `students` students and one published exam; answers the exam's id."""
    app = create_app({**SETTINGS, "SQLALCHEMY_DATABASE_URI": database_uri})
    with app.app_context():
        create_database_file()
        db.drop_all()
        db.session.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        init_database()
        exam = Exam(title="Exam day mock", exam_url="https://testpress.example/exams/mock/start",
                    testpress_id=TESTPRESS_EXAM_ID, published=True)
        db.session.add(exam)
        db.session.flush()
        password_hash = hash_password(PASSWORD)  # one hash for all: argon2 is slow on purpose
        db.session.execute(sa.insert(User), [
            {"email": f"student{n}@example.com", "name": f"Student {n}", "password_hash": password_hash,
             "testpress_user_id": 100000 + n} for n in range(students)])
        db.session.commit()
        exam_id = exam.id
        db.session.remove()
        db.engine.dispose()
    return exam_id


class Figures:
    """Each step's latencies, and the 503s answered and retried, shared by the clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.busy: Counter = Counter()
        self.failures: list[str] = []
        self.first = self.last = {}

    def timed(self, step: str, send, ok: tuple[int, ...]) -> requests.Response:
        """`send()` until it answers one of `ok` (a 503 is retried after its Retry-After)."""
        for _ in range(RETRIES):
            started = time.perf_counter()
            response = send()
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latency[step].append(elapsed)
                if step not in self.first:
                    self.first = {**self.first, step: started}
                self.last = {**self.last, step: started + elapsed}
            if response.status_code != 503:
                break
            with self.lock:
                self.busy[step] += 1
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 2) * random.uniform(0.5, 1))
        if response.status_code not in ok:
            raise AssertionError(f"{step}: {response.status_code} {response.text[:200]}")
        return response


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


def take_the_exam(url: str, number: int, exam_id: int, figures: Figures) -> None:
    """One student's exam day, from the login page to their result."""
    browser = requests.Session()
    email = f"student{number}@example.com"
    login = browser.get(f"{url}/login", timeout=60)
    figures.timed("log in", lambda: browser.post(f"{url}/login", data={
        "csrf_token": csrf_token(login.text), "email": email, "password": PASSWORD}, allow_redirects=False,
        timeout=60), (302,))
    exams = figures.timed("exam list", lambda: browser.get(f"{url}/exams/", timeout=60), (200,))
    launch = figures.timed("start", lambda: browser.post(f"{url}/exams/{exam_id}/start", data={
        "csrf_token": csrf_token(exams.text)}, timeout=60), (200,))
    signed = hidden_fields(launch.text)  # the form the browser posts to Testpress
    score = signed_score(number)
    testpress_attempt = 700000 + number
    returned = {"email": signed["email"], "first_name": signed["first_name"], "attempt_id": str(testpress_attempt),
                "institute_attempt_id": signed["institute_attempt_id"], "status": "completed",
                "total_count": "50", "correct_count": "40", "incorrect_count": "5", "unanswered_count": "5",
                "score": f"{score:g}", "max_score": "200", "percentage": f"{score / 2:g}", "rank": "1",
                "max_rank": "9"}
    returned["hmac"] = RETURN.sign(SETTINGS["TESTPRESS_SECRET"], {**returned, "key": signed["key"],
                                                                   "time": signed["time"]})
    webhook = signed_webhook_body({
        "username": f"student{number}", "email": email, "user_id": 100000 + number,
        "attempt_id": testpress_attempt, "attempt_state": "completed",
        "institute_attempt_id": int(signed["institute_attempt_id"]),
        "exam": {"id": TESTPRESS_EXAM_ID, "title": "Exam day mock"},
        "total_count": 50, "correct_answers_count": 40, "incorrect_answers_count": 5, "unanswered_answers_count": 5,
        "partial_correct_answers_count": 0, "score": f"{score:.2f}", "percentage": f"{score / 2:.2f}",
        "key": SETTINGS["TESTPRESS_PUBLIC_KEY"],
    }, SETTINGS["TESTPRESS_PRIVATE_KEY"])

    # The return and the webhook within the same moment, in either order.
    results: dict[str, requests.Response] = {}
    start = threading.Barrier(2)

    def send_return():
        start.wait()
        results["return"] = figures.timed("return", lambda: browser.post(
            f"{url}/testpress/return", data=returned, allow_redirects=False, timeout=60), (303,))

    def send_webhook():
        start.wait()
        results["webhook"] = figures.timed("webhook", lambda: requests.post(
            f"{url}/testpress/webhook", data=webhook, headers={"Content-Type": "application/json"}, timeout=60),
            (200,))

    pair = [threading.Thread(target=send_return), threading.Thread(target=send_webhook)]
    random.shuffle(pair)
    for thread in pair:
        thread.start()
    for thread in pair:
        thread.join()
    if set(results) != {"return", "webhook"}:
        raise AssertionError(f"student {number}: the return or the webhook failed")
    result_page = results["return"].headers["Location"]
    figures.timed("results", lambda: browser.get(f"{url}{result_page}", timeout=60), (200,))


def nothing_lost(database_uri: str, students: int, log_text: str) -> list[str]:
    """What went wrong, checked in the database and the server's log; empty when nothing was lost."""
    problems = []
    app = create_app({**SETTINGS, "SQLALCHEMY_DATABASE_URI": database_uri})
    with app.app_context():
        rows = db.session.execute(sa.select(User.email, sa.func.count(Attempt.id), sa.func.max(Attempt.score),
                                            sa.func.max(Attempt.score_source))
                                  .outerjoin(Attempt, Attempt.student_id == User.id).group_by(User.id)).all()
        for email, attempts, score, source in rows:
            number = int(email.removeprefix("student").split("@")[0])
            if attempts != 1 or score != signed_score(number) or source != "webhook":
                problems.append(f"{email}: {attempts} attempt(s), score {score} from {source}")
        unmatched = db.session.scalar(sa.select(sa.func.count()).select_from(UnmatchedReport))
        if unmatched:
            problems.append(f"{unmatched} unmatched report(s)")
        if len(rows) != students:
            problems.append(f"{len(rows)} students in the database, not {students}")
        db.session.remove()
        db.engine.dispose()
    if "database is locked" in log_text:
        problems.append('the server logged "database is locked"')
    if "Traceback" in log_text:
        problems.append("the server logged a traceback")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=32, help="students taking the exam at the same moment")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="portal-exam-day-"))
    database_uri = os.environ.get("PORTAL_TEST_DATABASE_URL") or f"sqlite:///{folder / 'portal.sqlite'}"
    engine_name = database_uri.split(":", 1)[0].split("+")[0]
    exam_id = seed(database_uri, options.students)
    figures = Figures()
    log_path = folder / "gunicorn.log"
    env = {**{f"PORTAL_{key}": value for key, value in SETTINGS.items()},
           "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri}
    # Production's gunicorn.conf.py as it is (max_requests included); /healthz answers 200 only
    # once the database holds the migrations' head.
    with gunicorn("wsgi:app", options.workers, log_path, env, options=("--access-logfile", "/dev/null"),
                  ready="/healthz") as (url, _):
        started = time.perf_counter()
        numbers = list(range(options.students))
        random.shuffle(numbers)
        with ThreadPoolExecutor(options.clients) as pool:
            for failure in pool.map(lambda n: _safely(take_the_exam, url, n, exam_id, figures), numbers):
                if failure:
                    figures.failures.append(failure)
        total = time.perf_counter() - started

    print(f"exam day: {options.students} students on {engine_name}, gunicorn -w {options.workers}, "
          f"{options.clients} at a time: {total:.1f} s in all")
    print(f"{'step':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'503s':>5}")
    for step in STEPS:
        times = sorted(figures.latency[step])
        if not times:
            continue
        span = max(figures.last[step] - figures.first[step], 1e-9)
        quantiles = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0]] * 99
        print(f"{step:<10} {len(times):>8} {len(times) / span:>7.0f} {quantiles[49] * 1000:>7.1f} "
              f"{quantiles[94] * 1000:>7.1f} {quantiles[98] * 1000:>7.1f} {figures.busy[step]:>5}")
    problems = figures.failures[:10] + nothing_lost(database_uri, options.students, log_path.read_text())
    if problems:
        print(f"LOST OR WRONG ({len(problems)}):")
        for problem in problems[:20]:
            print(f"  {problem}")
        return 1
    print("nothing lost: every student has one attempt with the webhook's signed score, no report is unmatched, "
          "and the server never logged a locked database")
    return 0


def _safely(work, *args) -> str | None:
    try:
        work(*args)
    except Exception as error:  # reported with the others, after the run
        return f"{type(error).__name__}: {error}"
    return None


if __name__ == "__main__":
    sys.exit(main())
