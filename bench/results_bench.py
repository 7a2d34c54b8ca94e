"""Benchmark the gradebook and an exam report at a thousand and at a million attempts.

    .venv/bin/python bench/results_bench.py              # 1,000 and 1,000,000 attempts
    .venv/bin/python bench/results_bench.py --large 100000

Both pages read `standings` (one row per student and exam), so the number of attempts
behind each cell should change neither their time nor their statements. To measure only
that, both sizes have the same 50 students and 20 exams, every pair attempted: one attempt
per pair at 1,000, a thousand per pair at 1,000,000. The attempts go straight into SQLite
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
        started = datetime(2026, 6, 1)
        rows, number = [], 0
        chance = random.Random(7)
        connection = db.session.connection()
        for student_id in student_ids:
            for exam_id in exam_ids:
                for _ in range(per_pair):
                    number += 1
                    score = chance.randint(-2, 20)
                    rows.append({"student_id": student_id, "exam_id": exam_id, "institute_attempt_id": number,
                                 "status": "completed", "score": score, "max_score": 20, "percentage": score * 5.0,
                                 "score_source": chance.choice(SOURCES), "flagged": chance.random() < 0.01,
                                 "needs_confirmation": False,
                                 "started_at": started + timedelta(minutes=number % 200_000),
                                 "completed_at": started + timedelta(minutes=number % 200_000 + 40),
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
    options = parser.parse_args()
    pages = ["/admin/gradebook/", "/admin/gradebook/?sort=1", "/admin/exams/1/report", "/admin/exams/2/report?page=1"]
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for attempts in (1_000, options.large):
            database = Path(folder) / f"results-{attempts}.sqlite"
            begin = time.perf_counter()
            seed(database, 50, 20, attempts // 1_000)
            print(f"seeded {attempts:,} attempts in {time.perf_counter() - begin:.1f} s", flush=True)
            results[attempts] = measure(database, pages, options.runs)
        print(f"\n{'page':34} {'1,000 cpu ms':>12} {'stmts':>5} "
              f"{f'{options.large:,} cpu ms':>16} {'stmts':>5} {'ratio':>6}")
        for (url, small_ms, small_n), (_, large_ms, large_n) in zip(results[1_000], results[options.large]):
            print(f"{url:34} {small_ms:12.1f} {small_n:5d} {large_ms:16.1f} {large_n:5d} {large_ms / small_ms:6.2f}")

        database = Path(folder) / "institute.sqlite"
        begin = time.perf_counter()
        seed(database, 2_000, 50, 3)
        print(f"\nseeded 2,000 students x 50 exams, 300,000 attempts in {time.perf_counter() - begin:.1f} s")
        for url, ms, count in measure(database, ["/admin/gradebook/", "/admin/gradebook/?sort=7&page=20",
                                                 "/admin/gradebook.csv"], 3):
            print(f"{url:34} {ms:9.1f} cpu ms {count:5d} statements")


if __name__ == "__main__":
    main()
