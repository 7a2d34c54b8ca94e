"""Benchmark the staff pages at 1,000 and 1,000,000 attempts: time and SQL statements, side by side.

    .venv/bin/python bench/staff_bench.py                     # 1,000 and 1,000,000 attempts
    .venv/bin/python bench/staff_bench.py --sizes 1000 100000 --runs 9

For each size it builds a SQLite database through the migrations (kept in the work directory,
so only the first run pays for seeding), inserts the attempts straight into it with
sqlite3 (a few hundred students in four batches, twenty exams, a year of start times; most
completed and verified, some unverified, some flagged), builds exam_stats with the
`flask rebuild-exam-stats` command, and then, in this process, on Flask's test client logged
in as staff, times each page (median of --runs requests, after one warm-up) and counts its
SQL statements. A deep page is the one reached by following "Older →" 200 times (or to the
last page, at a thousand attempts there are 20). At the largest size it also downloads the
whole CSV export: its time, rows, and the process's peak resident memory before and after
(Linux resets the peak when asked, so the figure is the export's own).
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sqlite3
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.core.database import create_database_file, init_database  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402

SECRET_KEY = "staff-bench-secret-key-not-for-production"
PASSWORD = "bench password, not for production"
STAFF = "staff@example.com"
STUDENTS, EXAMS, BATCHES = 300, 20, 4
DEEP = 200  # pages followed for "a deep page"
FIRST = ["Asha", "Ravi", "Meera", "Arjun", "Divya", "Kiran", "Nisha", "Rahul", "Priya", "Vikram", "Anita", "Sanjay"]
LAST = ["Rao", "Kumar", "Iyer", "Shah", "Nair", "Singh", "Das", "Menon", "Gupta", "Reddy", "Bose", "Pillai"]
STORED = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a DateTime in SQLite


def settings(path: Path) -> dict:
    return {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "TIMEZONE": "Asia/Kolkata",
            "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
            # The request log's line per request, to stderr, would be most of what is timed.
            "LOGGING": {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}}


# --- seeding ------------------------------------------------------------------------------

def seed(path: Path, size: int) -> None:
    """A database of `size` attempts at `path`: schema by the migrations, rows by sqlite3."""
    started = time.perf_counter()
    app = create_app(settings(path))
    with app.app_context():
        create_database_file()
        init_database()
        db.engine.dispose()
    rng = random.Random(size)
    now = datetime.utcnow().replace(microsecond=0)
    connection = sqlite3.connect(path, isolation_level=None)
    # A throwaway file: no journal, no syncs; the attempts' indexes dropped during the insert
    # and built again after it (sorting once is many times faster than a million inserts
    # into ten B-trees).
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -200000")
    indexes = connection.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'attempts'"
                                 " AND sql IS NOT NULL").fetchall()
    for (sql,) in indexes:
        connection.execute("DROP INDEX " + sql.split()[2])
    connection.execute("BEGIN")
    stamp = now.strftime(STORED)
    connection.execute("INSERT INTO users (email, name, password_hash, is_staff, active, created_at, session_version)"
                       " VALUES (?, 'Staff Member', ?, 1, 1, ?, 1)", (STAFF, hash_password(PASSWORD), stamp))
    connection.executemany(
        "INSERT INTO users (email, name, password_hash, is_staff, active, created_at, session_version)"
        " VALUES (?, ?, 'x', 0, 1, ?, 1)",
        [(f"student{n}@example.com", f"{rng.choice(FIRST)} {rng.choice(LAST)}", stamp) for n in range(STUDENTS)])
    student_ids = [row[0] for row in connection.execute("SELECT id FROM users WHERE is_staff = 0")]
    connection.executemany(
        "INSERT INTO exams (title, description, exam_url, testpress_id, published, instructions, counting_rule,"
        " created_at) VALUES (?, '', ?, ?, 1, '', 'best', ?)",
        [(f"{subject} Mock {n // 4 + 1}", f"https://bench.testpress.in/exams/run/e{n}/start/", 1000 + n, stamp)
         for n, subject in zip(range(EXAMS), ["Physics", "Chemistry", "Maths", "Biology"] * EXAMS)])
    exam_ids = [row[0] for row in connection.execute("SELECT id FROM exams")]
    connection.executemany("INSERT INTO batches (name, created_at) VALUES (?, ?)",
                           [(f"Batch {n + 1}", stamp) for n in range(BATCHES)])
    connection.executemany("INSERT INTO batch_members (batch_id, user_id) VALUES (?, ?)",
                           [(1 + n % BATCHES, user_id) for n, user_id in enumerate(student_ids)])
    connection.executemany(
        "INSERT INTO attempts (student_id, exam_id, institute_attempt_id, launch_time, testpress_attempt_id,"
        " status, started_at, completed_at, score_source, needs_confirmation, flagged, flag_reason, score,"
        " max_score, percentage, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
        _attempts(rng, size, now, student_ids, exam_ids))
    connection.executemany(
        "INSERT INTO webhook_deliveries (received_at, verified, outcome, reason) VALUES (?, ?, ?, ?)",
        [((now - timedelta(minutes=7 * n)).strftime(STORED), n % 10 != 0, "rejected" if n % 10 == 0 else "recorded",
          "bad hash" if n % 10 == 0 else None) for n in range(2000)])
    connection.executemany(
        "INSERT INTO unmatched_reports (source, testpress_attempt_id, reason, payload, received_at)"
        " VALUES ('webhook', ?, 'unknown exam', '{}', ?)", [(f"u{n}", stamp) for n in range(40)])
    connection.execute("INSERT INTO sync_runs (started_at, finished_at, status, new, updated, unchanged, unmatched,"
                       " flagged) VALUES (?, ?, 'ok', 12, 3, 900, 1, 0)", (stamp, stamp))
    connection.execute("COMMIT")
    for (sql,) in indexes:
        connection.execute(sql)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()
    result = app.test_cli_runner().invoke(args=["rebuild-exam-stats"])
    assert result.exit_code == 0, result.output
    print(f"  seeded {size:,} attempts in {time.perf_counter() - started:.0f} s; {result.output.strip()}", flush=True)


def _attempts(rng: random.Random, size: int, now: datetime, student_ids: list[int], exam_ids: list[int]):
    year = 365 * 24 * 3600
    for n in range(size):
        started = now - timedelta(seconds=rng.randrange(year))
        roll = rng.random()
        status = ("completed" if roll < 0.80 else "started" if roll < 0.90 else "cancelled" if roll < 0.95
                  else "pending" if roll < 0.98 else "launched")
        completed_at = source = score = percentage = None
        flagged, reason = 0, None
        if status == "completed":
            completed_at = (started + timedelta(minutes=50)).strftime(STORED)
            percentage = round(rng.uniform(5, 100), 2)
            score = round(percentage * 2, 2)
            kind = rng.random()
            source = "api" if kind < 0.6 else "webhook" if kind < 0.98 else "return"
            if source == "return" and kind > 0.99:
                flagged, reason = 1, "The browser return claimed another score than Testpress reported."
        yield (rng.choice(student_ids), rng.choice(exam_ids), n + 1, int(started.timestamp()),
               str(5_000_000 + n) if source in ("api", "webhook") else None, status, started.strftime(STORED),
               completed_at, source, flagged, reason, score, 200.0 if score is not None else None, percentage,
               now.strftime(STORED))


# --- measuring ----------------------------------------------------------------------------

@contextmanager
def counted(engine):
    statements = []

    def count(*_):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


OLDER = re.compile(r'<a href="([^"]+)">(?:Older|Next) →</a>')


def deep_url(client, url: str) -> tuple[str, int]:
    """The URL of the page reached by following the next-page link DEEP times (or to the last)."""
    followed = 0
    while followed < DEEP:
        found = OLDER.search(client.get(url).get_data(as_text=True))
        if not found:
            break
        url, followed = found.group(1).replace("&amp;", "&"), followed + 1
    return url, followed


ROW = re.compile(r'href="/admin/attempts/\d+"')


def measure(app, client, url: str, runs: int) -> tuple[float, float, int, int]:
    """Median CPU and clock milliseconds of `runs` requests for `url`, the statements one runs
    and the attempts it lists.

    CPU time (this process's: SQLite runs in it) is the figure to compare: on a shared host
    the clock also counts the time other processes had the core.
    """
    warm_up = client.get(url)  # compiled statements cached
    assert warm_up.status_code == 200, url
    rows = len(ROW.findall(warm_up.get_data(as_text=True)))
    cpu, clock = [], []
    for _ in range(runs):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        cpu.append((time.process_time() - begin_cpu) * 1000)
        clock.append((time.perf_counter() - begin) * 1000)
        assert response.status_code == 200, url
    with app.app_context(), counted(db.engine) as statements:
        client.get(url)
    return statistics.median(cpu), statistics.median(clock), len(statements), rows


def pages(app, client) -> dict[str, str]:
    with app.app_context():
        exam = db.session.scalar(sa.text("SELECT id FROM exams ORDER BY id LIMIT 1"))
    base = {
        "dashboard": "/admin/",
        "attempts": "/admin/attempts/",
        "attempts, exam": f"/admin/attempts/?exam={exam}",
        "attempts, batch": "/admin/attempts/?batch=2",
        "attempts, completed by score": "/admin/attempts/?status=completed&sort=score",
        "attempts, by student": "/admin/attempts/?sort=student",
        "attempts, flagged": "/admin/attempts/?flagged=1",
        "attempts, student 'rao'": "/admin/attempts/?student=rao",
    }
    urls = {}
    for name, url in base.items():
        urls[name] = url
        if name.startswith("attempts"):
            deep, followed = deep_url(client, url)
            urls[f"{name}, deep"] = deep
            print(f"  {name}: the deep page is page {followed + 1}", flush=True)
    return urls


def export(client) -> tuple[float, int, int, int]:
    """Seconds for the whole CSV export, its lines, and peak RSS (KB) before and during it."""
    before = peak_rss()
    begin = time.perf_counter()
    response = client.get("/admin/attempts/export.csv")
    lines = sum(chunk.count(b"\n") for chunk in response.response)
    seconds = time.perf_counter() - begin
    return seconds, lines, before, peak_rss()


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak starts again from now
    except OSError:
        pass


def login(app):
    client = app.test_client()
    response = client.post("/login", data={"email": STAFF, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/portal-staff-bench"))
    parser.add_argument("--no-export", action="store_true", help="leave out the export")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, tuple[float, int]]] = {}
    for size in options.sizes:
        path = options.workdir / f"staff-{size}.sqlite"
        if not path.exists():
            print(f"seeding {size:,} attempts into {path}", flush=True)
            try:
                seed(path, size)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        app = create_app(settings(path))
        client = login(app)
        urls = pages(app, client)
        results[size] = {name: measure(app, client, url, options.runs) for name, url in urls.items()}
        if size == max(options.sizes) and not options.no_export:
            reset_peak_rss()
            seconds, lines, before, peak = export(client)
            print(f"export at {size:,}: {lines - 1:,} rows in {seconds:.1f} s ({(lines - 1) / seconds:,.0f} rows/s); "
                  f"peak RSS {before / 1024:.0f} MB before, {peak / 1024:.0f} MB during", flush=True)
        with app.app_context():
            db.engine.dispose()
    small, large = min(results), max(results)
    print(f"\n{'page':<36} {small:>10,} attempts: CPU, clock, rows {large:>12,} attempts: CPU, clock, rows"
          "   ratio (CPU)")
    for name, (cpu_large, clock_large, statements_large, rows_large) in results[large].items():
        cpu_small, clock_small, statements_small, rows_small = results[small][name]
        print(f"{name:<36} {cpu_small:7.1f} ms {clock_small:7.1f} ms {statements_small:2d} st {rows_small:3d}"
              f"   {cpu_large:7.1f} ms {clock_large:7.1f} ms {statements_large:2d} st {rows_large:3d}"
              f"   {cpu_large / cpu_small:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
