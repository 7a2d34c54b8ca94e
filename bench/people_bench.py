"""Benchmark the staff's people list at 1,000 and 100,000 people.

    .venv/bin/python bench/people_bench.py                       # 1,000 and 100,000 people
    .venv/bin/python bench/people_bench.py --sizes 1000 10000
    .venv/bin/python bench/people_bench.py --database postgresql+psycopg://me@localhost:5433/bench

For each size it builds a fresh database through the migrations, bulk-inserts the people
(one `executemany` per 10,000 rows: a 100,000-person seed takes seconds), ten batches with
everyone in one of them, and three attempts for one person in ten, then logs a staff member
in on a test client in this process and times each page: the first page, a deep page (the
keyset page 99% of the way down the list), a search (a surname, case-insensitive, in names
and emails), a search with the role and batch filters, and the whole CSV export. Each
figure is the best of five batches' mean (of two single runs for the export), the least
disturbed by the rest of the host, in wall-clock and in CPU time (the steadier on a busy
host), beside the SQL statements the page runs. For comparison
it also times the deep page's rows fetched by OFFSET instead of the keyset, SQL only.

With --database (an empty PostgreSQL database) each size is seeded in turn, and the tables
it made are dropped after it is measured.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.core.database import create_database_file, init_database  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402
from portal.models import Attempt, Batch, Exam, User, batch_members, utcnow  # noqa: E402

SECRET_KEY = "people-bench-secret-key-not-for-production"
PASSWORD = "bench password, not for production"
STAFF = "bench-staff@example.com"
FIRST = ["Asha", "Ravi", "Meera", "Arjun", "Priya", "Karthik", "Divya", "Rahul", "Sneha", "Vikram",
         "Anjali", "Rohan", "Lakshmi", "Suresh", "Kavya", "Aditya", "Nisha", "Manoj", "Pooja", "Sanjay"]
LAST = ["Rao", "Kumar", "Iyer", "Sharma", "Nair", "Reddy", "Patel", "Gupta", "Menon", "Das",
        "Singh", "Joshi", "Pillai", "Verma", "Bose", "Shetty", "Mehta", "Kapoor", "Chopra", "Naidu"]
CHUNK = 10_000


def build_app(database_uri: str):
    return create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_uri,
                       "WTF_CSRF_ENABLED": False, "SESSION_COOKIE_SECURE": False,
                       "LOGGING": {"version": 1, "disable_existing_loggers": False,
                                   "root": {"level": "WARNING", "handlers": []}}})


def seed(app, size: int) -> None:
    """`size` people (a staff member among them), ten batches, attempts for one in ten."""
    rng = random.Random(size)
    with app.app_context():
        create_database_file()
        if sa.inspect(db.engine).get_table_names():
            sys.exit(f"people_bench: {db.engine.url!r} already has tables; give it an empty database")
        init_database()
        password_hash = hash_password(PASSWORD)
        now = utcnow()
        staff = User(email=STAFF, name="Bench Staff", password_hash=password_hash, is_staff=True)
        db.session.add(staff)
        batches = [Batch(name=f"Batch {n}") for n in range(1, 11)]
        exam = Exam(title="Mock test", exam_url="https://testpress.example/exams/run/mock/start/")
        db.session.add_all([*batches, exam])
        db.session.commit()
        batch_ids, exam_id = [batch.id for batch in batches], exam.id
        first_id = staff.id + 1
        for start in range(0, size - 1, CHUNK):
            rows = []
            for n in range(start, min(start + CHUNK, size - 1)):
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                rows.append({"id": first_id + n, "email": f"{name.lower().replace(' ', '.')}.{n}@example.com",
                             "name": name, "password_hash": password_hash, "is_staff": n % 200 == 0,
                             "active": n % 20 != 0, "created_at": now - timedelta(minutes=n), "session_version": 1})
            db.session.execute(sa.insert(User), rows)
            db.session.execute(sa.insert(batch_members),
                               [{"batch_id": batch_ids[row["id"] % 10], "user_id": row["id"]} for row in rows])
            db.session.execute(sa.insert(Attempt), [
                {"student_id": row["id"], "exam_id": exam_id, "institute_attempt_id": row["id"] * 10 + k,
                 "status": "completed", "started_at": now - timedelta(days=k), "updated_at": now,
                 "needs_confirmation": False, "flagged": False}
                for row in rows if row["id"] % 10 == 0 for k in range(3)])
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))


def deep_cursor(app) -> int:
    """The id of the person 99% of the way down the list: `after` for a deep page."""
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(User.id)))
        return db.session.scalar(sa.select(User.id).order_by(User.name, User.id).offset(int(total * 0.99)).limit(1))


def best_of(fn, batches: int = 5, size: int = 10) -> tuple[float, float]:
    """Milliseconds per call, (wall clock, this process's CPU): each the best of `batches`
    means of `size` calls, after a warm-up. On a busy host the CPU time is the steadier figure."""
    fn()
    walls, cpus = [], []
    for _ in range(batches):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(size):
            fn()
        walls.append((time.perf_counter() - wall) * 1000 / size)
        cpus.append((time.process_time() - cpu) * 1000 / size)
    return min(walls), min(cpus)


def measure(app, size: int) -> dict[str, tuple[float, float, int]]:
    """{label: (wall ms, CPU ms, SQL statements)} for each page at this size."""
    with app.app_context():
        engine = db.engine
        batch_id = db.session.scalar(sa.select(Batch.id).where(Batch.name == "Batch 3"))
    after = deep_cursor(app)
    client = app.test_client()
    assert client.post("/login", data={"email": STAFF, "password": PASSWORD}).status_code == 302
    pages = {
        "first page": "/admin/people/",
        "deep page (99%)": f"/admin/people/?after={after}",
        "search “kumar”": "/admin/people/?q=kumar",
        "search + role + batch": f"/admin/people/?q=kumar&role=students&batch={batch_id}",
        "export, every person (CSV)": "/admin/people/export.csv",
    }
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    figures = {}
    for label, path in pages.items():
        def get(path=path):
            response = client.get(path)
            response.get_data()
            assert response.status_code == 200, (path, response.status_code)
        statements.clear()
        get()
        count = len(statements)
        # The export of 100,000 takes seconds: two timed runs of it, not fifty.
        figures[label] = (*(best_of(get, batches=2, size=1) if "export" in label else best_of(get)), count)
    with app.app_context():
        offset = int(db.session.scalar(sa.select(sa.func.count(User.id))) * 0.99)
        by_offset = sa.select(User).order_by(User.name, User.id).offset(offset).limit(51)
        cursor = db.session.execute(sa.select(User.name, User.id).where(User.id == after)).one()
        by_keyset = (sa.select(User).where(sa.tuple_(User.name, User.id) > sa.tuple_(*cursor))
                     .order_by(User.name, User.id).limit(51))
        figures["deep rows by OFFSET (SQL only)"] = (*best_of(lambda: db.session.execute(by_offset).all()), 1)
        figures["deep rows by keyset (SQL only)"] = (*best_of(lambda: db.session.execute(by_keyset).all()), 1)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--database",
                        help="an empty PostgreSQL database's URL (default: SQLite files in a temporary folder)")
    options = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="people-bench-") as folder:
        for size in options.sizes:
            uri = options.database or f"sqlite:///{folder}/people-{size}.sqlite"
            app = build_app(uri)
            started = time.perf_counter()
            seed(app, size)
            print(f"seeded {size:,} people in {time.perf_counter() - started:.1f} s", flush=True)
            results[size] = measure(app, size)
            if options.database:  # empty again for the next size: only the tables the migrations made
                with app.app_context():
                    db.drop_all()
                    db.session.execute(sa.text("DROP TABLE alembic_version"))
                    db.session.commit()
    labels = list(next(iter(results.values())))
    print()
    print(f"{'':32}" + "".join(f"{f'{size:,} people':>30}" for size in results))
    print(f"{'page':32}" + "".join(f"{'wall ms':>10}{'CPU ms':>10}{'SQL':>10}" for _ in results))
    for label in labels:
        print(f"{label:32}" + "".join(f"{wall:>10.1f}{cpu:>10.1f}{count:>10}"
                                      for wall, cpu, count in (results[size][label] for size in results)))


if __name__ == "__main__":
    main()
