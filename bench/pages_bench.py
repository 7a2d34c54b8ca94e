"""Benchmark the student's pages and the staff dashboard against a bare Flask route.

    .venv/bin/python bench/pages_bench.py                  # 3 rounds of 4 s, 16 connections
    .venv/bin/python bench/pages_bench.py --rounds 5 --seconds 5
    .venv/bin/python bench/pages_bench.py --database postgresql://user@localhost:5433/bench
    .venv/bin/python bench/pages_bench.py --profile /attempts/   # where one page's time goes

Seeds a fresh database through the portal's models: a student with 50 completed attempts
(the one measured), a student with 5 (for the statement counts), a staff member and a few
hundred other students' attempts for the dashboard. Then it serves the portal (`wsgi:app`,
configured by PORTAL_* variables as in production) and `bench/hello_app.py` under the same
`gunicorn -w 2` sync workers, logs in once with requests, checks that every page answers
200 itself (not a redirect to the login page), and loads each with wrk (16 connections),
interleaved: every round measures the bare route and every page one after the other, so a
host that slows down for a minute slows them all. It prints the median requests per second
of each, its ratio to the bare route, and the SQL statements each page runs at 5 and at 50
attempts, counted in-process on a test client.

Without wrk (/usr/bin/wrk) a small Python load generator stands in; its figures are lower
for every target, the bare route included, so only its ratios compare with wrk's.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hello_app import app as bare_app  # noqa: E402
from bench.portal_floor import EMPTY_PAGE, add_empty_page  # noqa: E402
from bench.serving import Target, gunicorn, interleaved, logging_to, python_load, report, wrk  # noqa: E402
from portal import create_app  # noqa: E402
from portal.core.database import create_database_file, init_database  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402
from portal.models import Attempt, Exam, User, utcnow  # noqa: E402

SECRET_KEY = "pages-bench-secret-key-not-for-production"
PASSWORD = "bench password, not for production"
MEASURED = "many@example.com"  # the student with --attempts completed attempts
FEW = "few@example.com"  # the same shape of history, 5 attempts: the statement counts compare the two
STAFF = "staff@example.com"
# Sent with every request, the login's included: Flask-Login's session protection ties the
# session to the browser's User-Agent, and would rewrite the cookie on every response of a
# load generator that sent another one.
HEADERS = {"User-Agent": "pages_bench"}
BARE = "bare Flask route"
FLOOR = "empty logged-in page"  # issue 22's floor: every student page's target is 0.6x of it


# --- seeding -------------------------------------------------------------------------------

def seed(database_uri: str, attempts: int, others: int) -> None:
    """Fill an empty database through the portal's models."""
    app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_uri})
    with app.app_context():
        create_database_file()  # the app opens an existing file only
        if sa.inspect(db.engine).get_table_names():
            sys.exit(f"pages_bench: {database_uri} already has tables; give it an empty database")
        init_database()  # the migrations, so that /healthz (measured as the floor) finds their version
        now = utcnow()
        password_hash = hash_password(PASSWORD)  # argon2 is slow on purpose: once for everybody
        exams = [Exam(title=f"Mock test {n}: physics, chemistry and mathematics", description="Full syllabus.",
                      exam_url=f"https://testpress.example/exams/run/mock-{n}/start/", testpress_id=100 + n,
                      closes_at=now + timedelta(days=30))
                 for n in range(1, 7)]
        exams.append(Exam(title="Final mock", exam_url="https://testpress.example/exams/run/final/start/",
                          testpress_id=200, opens_at=now + timedelta(days=3)))
        exams.append(Exam(title="Last year's mock", exam_url="https://testpress.example/exams/run/old/start/",
                          testpress_id=201, closes_at=now - timedelta(days=60)))
        db.session.add_all(exams)
        numbers = iter(range(1, 10**9))

        def completed(student: User, exam: Exam, days_ago: float) -> Attempt:
            n = next(numbers)
            started = now - timedelta(days=days_ago)
            correct, incorrect = 10 + n % 15, n % 7
            return Attempt(
                student=student, exam=exam, institute_attempt_id=10**12 + n, launch_time=int(started.timestamp()),
                testpress_attempt_id=str(900_000 + n), status="completed", started_at=started,
                completed_at=started + timedelta(minutes=90), total_count=30, correct_count=correct,
                incorrect_count=incorrect, unanswered_count=30 - correct - incorrect,
                score=4.0 * correct - incorrect, max_score=120.0, percentage=(4.0 * correct - incorrect) / 1.2,
                rank=1 + n % 40, max_rank=40, score_source="webhook" if n % 3 else "return",
                webhook_seen_at=started + timedelta(minutes=91),
            )

        for email, name, count in ((MEASURED, "Many Attempts", attempts), (FEW, "Few Attempts", 5)):
            student = User(email=email, name=name, password_hash=password_hash)
            db.session.add_all(completed(student, exams[i % 6], days_ago=count - i) for i in range(count))
        db.session.add(User(email=STAFF, name="Staff Member", password_hash=password_hash, is_staff=True))
        for s in range(others):
            student = User(email=f"student{s}@example.com", name=f"Student {s}", password_hash=password_hash)
            db.session.add_all(completed(student, exams[(s + i) % 6], days_ago=s % 20 + i) for i in range(3))
        db.session.commit()
        db.engine.dispose()


def in_process_app(database_uri: str, log_path: Path):
    """The portal in this process, for a test client: its request log goes to a file, as a server's
    would, and its forms carry CSRF tokens, as a server's do (writing them is part of a page's cost)."""
    return add_empty_page(create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_uri,
                                      "LOGGING": logging_to(log_path), "SESSION_COOKIE_SECURE": False}))


def client_log_in(client, email: str) -> None:
    """Log a test client in through the login form, its CSRF token included, and follow the
    redirect, as log_in does for the servers."""
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    response = client.post("/login", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert response.status_code == 302, f"could not log in {email}: {response.status_code}"
    client.get("/")


def in_process_figures(database_uri: str, log_path: Path) -> tuple[dict, dict]:
    """SQL statements per page, per student ({label: {email: count}}), and the measured student's
    and staff's pages' and the bare route's milliseconds and Python calls per request
    ({label: (ms, calls)}), all on test clients in this process.

    The time is the best of five batches' means, the least disturbed by the rest of the host;
    the calls are the same in every run.
    """
    app = in_process_app(database_uri, log_path)
    counts: dict[str, dict[str, int]] = {}
    bare_client = bare_app.test_client()
    times = {BARE: (best_batch(bare_client, "/"), function_calls(bare_client, "/"))}
    with app.app_context():
        engine = db.engine
    statements = []
    # No app context held around the requests: each must push its own, with its own `g`.
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for email in (FEW, MEASURED, STAFF):
        client = app.test_client()
        client_log_in(client, email)
        for label, path in pages_of(app, email):
            statements.clear()
            response = client.get(path)
            assert response.status_code == 200, f"{path} answered {response.status_code} to {email}"
            counts.setdefault(label, {})[email] = len(statements)
            if email != FEW:
                times[label] = (best_batch(client, path), function_calls(client, path))
    engine.dispose()
    return counts, times


def function_calls(client, path: str, count: int = 20) -> int:
    """Python function calls per GET of path (cProfile's count): the same in every run, whatever
    the host does, so the figure to compare two versions of the code by."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        client.get(path)
    profiler.disable()
    return round(pstats.Stats(profiler).total_calls / count)


def best_batch(client, path: str, batches: int = 5, size: int = 100) -> float:
    """Milliseconds per GET of path: the best of `batches` means of `size` requests, after a warm-up."""
    for _ in range(20):
        client.get(path)
    means = []
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(size):
            client.get(path)
        means.append((time.perf_counter() - started) * 1000 / size)
    return min(means)


def pages_of(app, email: str) -> list[tuple[str, str]]:
    """The pages measured for one person: (label, path)."""
    if email == STAFF:
        return [("staff dashboard", "/admin/")]
    with app.app_context():
        latest = db.session.scalar(
            sa.select(Attempt.id).join(Attempt.student).where(User.email == email)
            .order_by(Attempt.started_at.desc()).limit(1))
    return [(FLOOR, EMPTY_PAGE), ("exam list", "/exams/"), ("history", "/attempts/"),
            ("results page", f"/attempts/{latest}")]


# --- logging in ------------------------------------------------------------------------

def log_in(url: str, email: str) -> str:
    """Log in through the login form; answers the Cookie header of the session."""
    session = requests.Session()
    session.headers.update(HEADERS)
    form = session.get(f"{url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    response = session.post(f"{url}/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 302, f"could not log in {email}: {response.status_code}"
    # The login starts a fresh session (portal.web.auth.login), whose CSRF secret the first page
    # with a form adds: follow the redirect, as a browser does, so that the measured requests
    # carry the session a browser holds from then on.
    session.get(f"{url}/", timeout=30)
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def check_answers_itself(url: str, headers: dict[str, str]) -> None:
    """A redirect (to the login page, say) measured instead of the page is not a figure."""
    response = requests.get(url, headers=headers, allow_redirects=False, timeout=10)
    if response.status_code != 200:
        sys.exit(f"pages_bench: {url} answered {response.status_code}, not 200: nothing to measure")
    if "Set-Cookie" in response.headers:
        sys.exit(f"pages_bench: {url} rewrites the session cookie on every request: not what a browser meets")


# --- profiling -----------------------------------------------------------------------------

def profile(database_uri: str, path: str, count: int, log_path: Path) -> None:
    """Where one page's time goes: `count` requests on a test client under pyinstrument (or cProfile)."""
    app = in_process_app(database_uri, log_path)
    client = app.test_client()
    email = STAFF if path.startswith("/admin") else MEASURED
    client_log_in(client, email)
    if path == "result":
        path = pages_of(app, MEASURED)[-1][1]
    assert client.get(path).status_code == 200, f"{path} does not answer 200"
    started = time.perf_counter()
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(lambda: [client.get(path) for _ in range(count)])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    else:
        with Profiler(interval=0.0002) as profiler:
            for _ in range(count):
                client.get(path)
        print(profiler.output_text(unicode=True, show_all=False))
    print(f"{path}: {(time.perf_counter() - started) * 1000 / count:.2f} ms per request in-process (profiled)")


# --- the run -------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per target and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--attempts", type=int, default=50, help="completed attempts of the measured student")
    parser.add_argument("--others", type=int, default=300, help="other students, 3 attempts each")
    parser.add_argument("--database", help="an empty database's URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", metavar="PATH", help="profile PATH in-process ('result' for a results page)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="portal-pages-bench-"))
    database_uri = options.database or f"sqlite:///{folder / 'portal.sqlite'}"
    seed(database_uri, options.attempts, options.others)
    if options.profile:
        profile(database_uri, options.profile, 300, folder / "in-process.log")
        return
    counts, in_process = in_process_figures(database_uri, folder / "in-process.log")

    load = wrk if shutil.which("wrk") and not options.python_load else python_load
    env = {"PORTAL_SECRET_KEY": SECRET_KEY, "PORTAL_SQLALCHEMY_DATABASE_URI": database_uri,
           "PORTAL_SESSION_COOKIE_SECURE": "false", "PORTAL_REMEMBER_COOKIE_SECURE": "false"}
    with ExitStack() as servers:
        bare, bare_pid = servers.enter_context(gunicorn("bench.hello_app:app", options.workers,
                                                        folder / "bare.log", env))
        # wsgi:app, as production serves it, with the empty page of portal_floor.py.
        portal, portal_pid = servers.enter_context(gunicorn("bench.portal_floor:served()", options.workers,
                                                            folder / "portal.log", env))
        student, staff = log_in(portal, MEASURED), log_in(portal, STAFF)
        app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_uri})
        as_student, as_staff = {**HEADERS, "Cookie": student}, {**HEADERS, "Cookie": staff}
        targets = [Target(BARE, f"{bare}/", bare_pid, HEADERS)]
        targets += [Target(label, portal + path, portal_pid, as_student) for label, path in pages_of(app, MEASURED)]
        targets += [Target(label, portal + path, portal_pid, as_staff) for label, path in pages_of(app, STAFF)]
        # The portal's cheapest route (no session, one SELECT 1): the floor under every page.
        targets.append(Target("portal /healthz", f"{portal}/healthz", portal_pid, HEADERS))
        for target in targets[1:]:
            check_answers_itself(target.url, target.headers)
        rates, cpu = interleaved(targets, load, options.rounds, options.seconds, options.connections)
        for target in targets[1:]:
            check_answers_itself(target.url, target.headers)  # still the page, not a redirect, at the end

    print(f"gunicorn -w {options.workers} (sync), {'wrk' if load is wrk else 'Python load'}, "
          f"{options.connections} connections, {options.rounds} interleaved rounds of {options.seconds:g} s, "
          f"medians; the student has {options.attempts} completed attempts; {db_name(database_uri)}")
    print(report(rates, cpu, floor=BARE))
    print(f"\nAgainst the floor, the {FLOOR} (target 0.6x): median req/s and worker CPU, ratios")
    print(report({label: values for label, values in rates.items() if label != BARE},
                 {label: values for label, values in cpu.items() if label != BARE}, floor=FLOOR))
    print(f"\nSQL statements per page ({FEW.split('@')[0]}: 5 attempts, {MEASURED.split('@')[0]}: "
          f"{options.attempts})")
    for label, by_person in counts.items():
        print(f"{label:<20} " + "   ".join(f"{email.split('@')[0]} {n}" for email, n in by_person.items()))
    print("\nIn-process, on a test client: ms per request (best of 5 batches of 100) and Python calls per request")
    bare_ms, bare_calls = in_process[BARE]
    for label, (ms, calls) in in_process.items():
        print(f"{label:<20} {ms:>6.2f} ms  {bare_ms / ms:>5.2f}x  {calls:>7,} calls  {bare_calls / calls:>5.2f}x")


def db_name(uri: str) -> str:
    return "SQLite file" if uri.startswith("sqlite") else sa.make_url(uri).get_backend_name()


if __name__ == "__main__":
    main()
