"""Benchmark `flask testpress sync` against a live sandbox: attempts per second and peak memory.

    .venv/bin/python bench/sync_bench.py                 # 10,000 and 100,000 attempts
    .venv/bin/python bench/sync_bench.py --sizes 5000    # any sizes

For each size it seeds a sandbox database in the work directory (kept between runs, so
only the first run pays for seeding), serves it from a separate process, builds a fresh
portal database whose students and exams match the sandbox's, and then runs the sync in
a process of its own, twice: a first sync that creates every attempt, and a second one
over the same window that finds them all unchanged. Each figure is the whole pipeline:
HTTP, JSON, matching, reconciliation and the SQLite commit per page. "CPU" is the sync
process's processor time (both its threads): steadier than the clock on a shared machine,
so the better figure for comparing two versions of the code. Peak memory is the
sync process's maximum resident set size, interpreter and libraries included; "growth" is
the peak during the two syncs less the resident size just before they began (on Linux the
peak is reset there, so that start-up's own peak does not hide the sync's).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTAL_SETTINGS = {
    "SECRET_KEY": "bench-secret-key-not-for-production",
    "TESTPRESS_PUBLIC_KEY": "sandbox-public-key",
    "TESTPRESS_SECRET": "sandbox-hmac-secret",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/portal-sync-bench"))
    parser.add_argument("--serve-sandbox", metavar="DATABASE", help=argparse.SUPPRESS)
    parser.add_argument("--sync", nargs=2, metavar=("PORTAL_DATABASE", "BASE_URL"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_sandbox:
        serve_sandbox(options.serve_sandbox)
    elif options.sync:
        run_sync(*options.sync)
    else:
        options.workdir.mkdir(parents=True, exist_ok=True)
        rows = [bench(size, options.workdir) for size in options.sizes]
        print_table(rows)


def bench(size: int, workdir: Path) -> dict:
    sandbox_db = workdir / f"sandbox-{size}.sqlite"
    portal_db = workdir / f"portal-{size}.sqlite"
    users = seed_sandbox(sandbox_db, size)
    prepare_portal(portal_db, users)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-sandbox", str(sandbox_db)], stdout=subprocess.PIPE, text=True
    )
    try:
        base_url = server.stdout.readline().strip()
        output = subprocess.run(
            [sys.executable, __file__, "--sync", str(portal_db), base_url],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"size": size, **json.loads(output.strip().splitlines()[-1])}


def seed_sandbox(database: Path, size: int) -> list[tuple[int, str]]:
    """Seed `size` completed attempts once; answer the sandbox's students as (id, email)."""
    from testpress_sandbox import create_app
    from testpress_sandbox.models import Attempt, User, db
    from testpress_sandbox.seed import init_db, seed_attempts

    app = create_app({"DATABASE": str(database), "WEBHOOK_URL": ""})
    with app.app_context():
        init_db()
        if db.session.scalar(sa.select(sa.func.count(Attempt.id))) != size:
            db.session.execute(sa.delete(Attempt))
            db.session.execute(sa.delete(User).where(User.is_staff.is_(False)))
            db.session.commit()
            started = time.perf_counter()
            seed_attempts(size)
            print(f"seeded {size:,} sandbox attempts in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return db.session.execute(sa.select(User.id, User.email).where(User.is_staff.is_(False))).all()


def prepare_portal(database: Path, users: list[tuple[int, str]]) -> None:
    """A fresh portal database with the sandbox's exams and every other student known by email."""
    from portal import create_app
    from portal.core.database import create_database_file
    from portal.core.extensions import db
    from portal.models import Exam, User
    from testpress_sandbox.seed import EXAMS

    database.unlink(missing_ok=True)
    app = create_app({**PORTAL_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    with app.app_context():
        create_database_file()  # the app opens an existing file only
        db.create_all()
        db.session.execute(sa.insert(Exam), [
            {"title": exam["title"], "exam_url": f"https://sandbox.example/exams/run/{exam['slug']}/start/",
             "testpress_id": exam["id"]}
            for exam in EXAMS
        ])
        # One student in ten is unknown to the portal, so the unmatched path is timed too.
        db.session.execute(sa.insert(User), [
            {"email": email, "name": f"Student {user_id}", "password_hash": "!"}
            for number, (user_id, email) in enumerate(users) if number % 10
        ])
        db.session.commit()


def serve_sandbox(database: str) -> None:
    from werkzeug.serving import make_server

    from testpress_sandbox import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = create_app({"DATABASE": database, "WEBHOOK_URL": ""})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


def run_sync(database: str, base_url: str) -> None:
    from portal import create_app
    from portal.testpress.client import TestpressClient
    from portal.testpress.sync import sync_attempts
    from testpress_sandbox.config import DEFAULTS

    app = create_app({
        **PORTAL_SETTINGS,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "TESTPRESS_BASE_URL": base_url,
        "TESTPRESS_API_USERNAME": DEFAULTS["API_USERNAME"],
        "TESTPRESS_API_PASSWORD": DEFAULTS["API_PASSWORD"],
    })
    with app.app_context():
        client = TestpressClient(base_url, DEFAULTS["API_USERNAME"], DEFAULTS["API_PASSWORD"], timeout=60)
        startup_peak = peak_mb()
        reset_peak()
        baseline = resident_mb()
        started, cpu_started = time.perf_counter(), time.process_time()
        first = sync_attempts(client)
        first_seconds, first_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()
        second = sync_attempts(client, since=datetime(2000, 1, 1))
        second_seconds, second_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    sync_peak = peak_mb()
    print(json.dumps({
        "first_seconds": first_seconds, "first_cpu": first_cpu, "first": first.line(),
        "second_seconds": second_seconds, "second_cpu": second_cpu, "second": second.line(),
        "peak_mb": max(startup_peak, sync_peak), "growth_mb": sync_peak - baseline,
    }))


def peak_mb() -> float:
    """This process's peak resident size: Linux's VmHWM, because ru_maxrss also counts the
    size of the parent this process was forked from (the benchmark, which seeded data)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start the peak afresh from the current resident size (Linux: "5" to clear_refs, see proc(5)).

    Start-up peaks on its own: the portal's import hashes a dummy password with argon2,
    which takes 64 MiB for a moment. Elsewhere the peak stays the whole process's.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1024 / 1024


def print_table(rows: list[dict]) -> None:
    print(f"{'attempts':>9}  {'first sync':>30}  {'rerun (unchanged)':>30}  {'peak RSS':>9}  {'growth':>7}")
    for row in rows:
        first = sync_figures(row["size"], row["first_seconds"], row["first_cpu"])
        second = sync_figures(row["size"], row["second_seconds"], row["second_cpu"])
        print(f"{row['size']:>9,}  {first:>30}  {second:>30}  {row['peak_mb']:6.0f} MB  {row['growth_mb']:4.0f} MB")
    for row in rows:
        print(f"{row['size']:>9,}: first  {row['first']}")
        print(f"{'':>9}  rerun  {row['second']}")


def sync_figures(size: int, seconds: float, cpu_seconds: float) -> str:
    return f"{seconds:5.1f} s {size / seconds:7,.0f}/s (CPU {cpu_seconds:4.1f} s)"


if __name__ == "__main__":
    main()
