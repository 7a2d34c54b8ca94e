"""Benchmark the gradebook and an exam report at a thousand and at a million attempts.

    .venv/bin/python bench/results_bench.py              # 1,000 and 1,000,000 attempts
    .venv/bin/python bench/results_bench.py --large 100000
    .venv/bin/python bench/results_bench.py --keep /tmp/results-bench   # seed once, measure again

Both pages read `standings` (one row per student and exam), and the report counts its flagged
attempts through an index of the flagged ones alone, so the number of attempts behind each
cell should change neither their time nor their statements. To measure only that, both sizes
have the same 50 students and 20 exams, every pair attempted: one attempt per pair at 1,000,
a thousand per pair at 1,000,000, each pair's attempts reported by one source on one day (see
seed). The attempts go straight into SQLite
(one executemany), then `portal.attempts.standings.rebuild` derives the standings, as
`flask rebuild-standings` does after a bulk load. A third set, 2,000 students x 50 exams with
three attempts each, times the gradebook at a large institute's size, with its CSV export.

Each page is requested in-process through Flask's test client, logged in as staff: the
median CPU time of several requests (SQLite runs in the process, so this is all the work
and, unlike the clock, does not count the time other processes of a busy host take), and
the SQL statements one request runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.attempts.standings import rebuild  # noqa: E402
from portal.core.database import create_database_file  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402
from portal.models import Attempt, Exam, User  # noqa: E402

PASSWORD = "bench password, not for production"
SOURCES = ("webhook", "api", "return")


def seed(database: Path, students: int, exams: int, per_pair: int) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "results-bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    with app.app_context():
        create_database_file()
        db.create_all()
        password = hash_password(PASSWORD)
        db.session.add(User(email="staff@example.com", name="Staff", is_staff=True, password_hash=password))
        db.session.execute(sa.insert(User), [{"email": f"s{n}@example.com", "name": f"Student {n:05d}",
                                              "password_hash": password, "is_staff": False} for n in range(students)])
        db.session.execute(sa.insert(Exam), [{"title": f"Exam {n:02d}", "exam_url": f"https://tp.example/e{n}/",
                                              "published": True, "counting_rule": ("best", "latest", "first")[n % 3]}
                                             for n in range(exams)])
        db.session.commit()
        student_ids = db.session.scalars(sa.select(User.id).where(User.is_staff.is_(False))).all()
        exam_ids = db.session.scalars(sa.select(Exam.id)).all()
        rows, number = [], 0
        chance = random.Random(7)
        connection = db.session.connection()
        for pair, (student_id, exam_id) in enumerate(itertools.product(student_ids, exam_ids)):
            # Who reported a pair's attempts and on which day is the pair's, not each attempt's:
            # the standings (verified or only claimed, with a pending claim or not, completed on
            # which day) are then alike at both sizes, and the pages show the same, so that only
            # the attempts behind them differ. (Drawn per attempt, a pair of a thousand attempts
            # was always verified and always had a pending claim, and its days spread with the
            # attempts: the larger report drew more.)
            source = SOURCES[pair % len(SOURCES)]
            day = datetime(2026, 6, 1, 6) + timedelta(days=pair % 14)
            for retake in range(per_pair):
                number += 1
                score = chance.randint(-2, 20)
                started = day + timedelta(seconds=5 * retake)
                rows.append({"student_id": student_id, "exam_id": exam_id, "institute_attempt_id": number,
                             "status": "completed", "score": score, "max_score": 20, "percentage": score * 5.0,
                             "score_source": source, "flagged": chance.random() < 0.01, "needs_confirmation": False,
                             "started_at": started, "completed_at": started + timedelta(minutes=40),
                             "updated_at": started})
                if len(rows) == 50_000:
                    connection.execute(sa.insert(Attempt.__table__), rows)
                    rows.clear()
        if rows:
            connection.execute(sa.insert(Attempt.__table__), rows)
        db.session.commit()
        # Bulk rows skip the session's hook: derive the standings as after any bulk load.
        rebuild(db.session)
        db.session.commit()


def seeded(database: Path, students: int, exams: int, per_pair: int, label: str) -> None:
    """Seed `database`, unless an earlier run kept it (--keep): then it is measured as it is."""
    if database.exists():
        print(f"measuring the {label} kept in {database}", flush=True)
        return
    begin = time.perf_counter()
    seed(database, students, exams, per_pair)
    print(f"seeded {label} in {time.perf_counter() - begin:.1f} s", flush=True)


def measure(database: Path, urls: list[str], runs: int) -> list[tuple[str, float, int]]:
    app = create_app({"TESTING": True, "SECRET_KEY": "results-bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    client = app.test_client()
    assert client.post("/login", data={"email": "staff@example.com", "password": PASSWORD}).status_code == 302
    with app.app_context():
        engine = db.engine
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    figures = []
    for url in urls:
        assert client.get(url).status_code == 200, url  # warm, and a page, not a redirect
        times = []
        for _ in range(runs):
            statements.clear()
            begin = time.process_time()
            response = client.get(url)
            response.get_data()  # a streamed export counts until its last row
            times.append(time.process_time() - begin)
        figures.append((url, statistics.median(times) * 1000, len(statements)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=1_000_000, help="attempts in the large set")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, metavar="FOLDER",
                        help="keep the databases in FOLDER and measure one already there rather than seed it "
                             "again (delete them after a change to the schema)")
    options = parser.parse_args()
    pages = ["/admin/gradebook/", "/admin/gradebook/?sort=1", "/admin/exams/1/report", "/admin/exams/2/report?page=1"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        results = {}
        for attempts in (1_000, options.large):
            database = folder / f"results-{attempts}.sqlite"
            seeded(database, 50, 20, attempts // 1_000, f"{attempts:,} attempts")
            results[attempts] = measure(database, pages, options.runs)
        print(f"\nload average {os.getloadavg()[0]:.1f} (1 min)")
        print(f"{'page':34} {'1,000 cpu ms':>12} {'stmts':>5} "
              f"{f'{options.large:,} cpu ms':>16} {'stmts':>5} {'ratio':>6}")
        for (url, small_ms, small_n), (_, large_ms, large_n) in zip(results[1_000], results[options.large]):
            print(f"{url:34} {small_ms:12.1f} {small_n:5d} {large_ms:16.1f} {large_n:5d} {large_ms / small_ms:6.2f}")

        database = folder / "institute.sqlite"
        print()
        seeded(database, 2_000, 50, 3, "2,000 students x 50 exams, 300,000 attempts")
        for url, ms, count in measure(database, ["/admin/gradebook/", "/admin/gradebook/?sort=7&page=20",
                                                 "/admin/gradebook.csv"], 3):
            print(f"{url:34} {ms:9.1f} cpu ms {count:5d} statements")
        print(f"load average {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
