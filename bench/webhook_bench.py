"""Benchmark the webhook receiver against the floor of its stack, in the same run.

    .venv/bin/python bench/webhook_bench.py                   # 3 rounds of 4 s, 16 connections
    .venv/bin/python bench/webhook_bench.py --rounds 5 --seconds 5
    .venv/bin/python bench/webhook_bench.py --database postgresql+psycopg://user@host:port/empty_db
    .venv/bin/python bench/webhook_bench.py --profile first    # or repeat: where a delivery's time goes

Seeds a fresh database (migrated, as production's) with --launches students, each with an
earlier exam's result and one launch of one of ten exams, and signs a real "completed"
webhook body for every launch, as Testpress would. It then serves the portal (`wsgi:app`,
configured by PORTAL_* variables as in production, its request log to a file, plus the
signed insert of `bench/portal_floor.py`) and `bench/insert_floor.py` under the same
`gunicorn -w 2` sync workers and gunicorn.conf.py (with `--max-requests 0`), and loads each
with wrk (POSTs from a Lua script; a Python load generator without wrk), interleaved: a
warm-up pass, then every round measures every target one after the other.

- floor: insert + commit: a bare Flask-SQLAlchemy route storing the body as one row, SQLite
  WAL with synchronous=NORMAL, committed. The floor every ratio is to.
- floor: verify + insert: the same, after the portal's own check of the body's hash: the
  floor of any signed delivery.
- portal: verify + insert: the same check and one log row, on the portal's own stack (its
  request log, metrics, headers, extensions): the floor under the webhook.
- webhook, repeat: the same signed body again (Testpress retrying), cycling through
  deliveries the seed already made once: verified, matched, found unchanged, logged.
- webhook, first delivery: every request a launch's completion never delivered before:
  each load gets a share of the signed bodies no load has sent yet.

It prints req/s, the ratio to the floor, the workers' CPU ms per request, then the SQL
statements one repeat and one first delivery run and their Python function calls (cProfile's
count, which no load on the host moves), counted in-process on a test client. After the load
it checks that every first delivery was recorded (none was sent twice) and that the server
logged no traceback and no "database is locked".
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import shutil
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.insert_floor import create as create_floor  # noqa: E402
from bench.portal_floor import SIGNED_INSERT, add_signed_insert  # noqa: E402
from bench.serving import Target, gunicorn, interleaved, logging_to, python_load, report, wrk  # noqa: E402
from portal import create_app  # noqa: E402
from portal.attempts import standings  # noqa: E402
from portal.core.database import create_database_file, init_database  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.exams import stats  # noqa: E402
from portal.models import Attempt, AttemptReport, Exam, User, WebhookDelivery, utcnow  # noqa: E402
from portal.testpress.signing import WEBHOOK_SIGNED_FIELDS, webhook_hash  # noqa: E402
from portal.vocabulary import AttemptStatus, ReportSource  # noqa: E402

SECRET_KEY = "webhook-bench-secret-key-not-for-production"
PUBLIC_KEY, PRIVATE_KEY = "bench-public-key", "bench-private-key"
WEBHOOK = "/testpress/webhook"
EXAMS = 10
REPEATED = 200  # launches delivered once by the seed: the bodies the repeats cycle through
COUNTED = 100  # first deliveries spent in-process on the statement and call counts
FLOOR, SIGNED_FLOOR = "floor: insert + commit", "floor: verify + insert"
PORTAL_FLOOR = "portal: verify + insert"
REPEAT, FIRST = "webhook, repeat", "webhook, first delivery"


# --- seeding -------------------------------------------------------------------------------

def portal_settings(database_uri: str) -> dict:
    return {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_uri, "TESTPRESS_PUBLIC_KEY": PUBLIC_KEY,
            "TESTPRESS_SECRET": "bench-secret", "TESTPRESS_PRIVATE_KEY": PRIVATE_KEY}


def seed(database_uri: str, launches: int) -> list[bytes]:
    """Fill an empty database: the exams, a student per launch (each known to Testpress by a
    user id, with an earlier exam's result, as after their first exam) and the launches;
    answer each launch's signed completion, in launch order."""
    app = create_app(portal_settings(database_uri))
    with app.app_context():
        create_database_file()  # the app opens an existing file only
        if sa.inspect(db.engine).get_table_names():
            sys.exit(f"webhook_bench: {database_uri} already has tables; give it an empty database")
        init_database()
        now = utcnow()
        db.session.add_all(Exam(title=f"Mock test {n}", exam_url=f"https://testpress.example/exams/{n}/start/",
                                testpress_id=100 + n, closes_at=now + timedelta(days=30)) for n in range(EXAMS))
        db.session.flush()
        exam_ids = db.session.scalars(sa.select(Exam.id).order_by(Exam.testpress_id)).all()
        # Bulk inserts, then the kept counts rebuilt: a flush per launch would take minutes.
        db.session.execute(sa.insert(User), [
            {"email": f"student{n}@example.com", "name": f"Student {n}", "password_hash": "-",
             "testpress_user_id": 10**6 + n} for n in range(launches)])
        ids = dict(db.session.execute(sa.select(User.email, User.id)).all())
        last_week, started = now - timedelta(days=7), now - timedelta(hours=2)
        result = {"total_count": 50, "correct_count": 30, "incorrect_count": 5, "unanswered_count": 15,
                  "score": 115.0, "percentage": 57.5}
        earlier = [{"student_id": ids[f"student{n}@example.com"], "exam_id": exam_ids[(n + 1) % EXAMS],
                    "institute_attempt_id": 10**11 + n, "launch_time": int(last_week.timestamp()),
                    "started_at": last_week, "status": AttemptStatus.COMPLETED,
                    "testpress_attempt_id": str(4_000_000 + n),
                    "completed_at": last_week + timedelta(hours=1), "scored_at": last_week + timedelta(hours=1),
                    "score_source": ReportSource.WEBHOOK, "webhook_seen_at": last_week, **result}
                   for n in range(launches)]
        db.session.execute(sa.insert(Attempt), earlier)
        scored = dict(db.session.execute(sa.select(Attempt.testpress_attempt_id, Attempt.id)
                                         .where(Attempt.testpress_attempt_id.is_not(None))).all())
        db.session.execute(sa.insert(AttemptReport), [
            {"attempt_id": scored[row["testpress_attempt_id"]], "source": ReportSource.WEBHOOK,
             "status": AttemptStatus.COMPLETED, "testpress_attempt_id": row["testpress_attempt_id"],
             "received_at": last_week, **result} for row in earlier])
        db.session.execute(sa.insert(Attempt), [
            {"student_id": ids[f"student{n}@example.com"], "exam_id": exam_ids[n % EXAMS],
             "institute_attempt_id": 10**12 + n, "launch_time": int(started.timestamp()), "started_at": started,
             "status": AttemptStatus.LAUNCHED} for n in range(launches)])
        stats.rebuild()  # and ANALYZE, as `flask rebuild-exam-stats` runs it
        standings.rebuild(db.session)
        db.session.commit()
        db.engine.dispose()
    return [signed_body(n) for n in range(launches)]


def signed_body(n: int) -> bytes:
    """Testpress's "completed" webhook for launch n, signed as Testpress signs it."""
    correct = 20 + n % 25
    payload = {
        "username": f"student{n}", "email": f"student{n}@example.com", "user_id": 10**6 + n,
        "attempt_id": 5_000_000 + n, "attempt_state": "completed", "institute_attempt_id": 10**12 + n,
        "exam": {"id": 100 + n % EXAMS, "title": f"Mock test {n % EXAMS}", "duration": "1:30:00"},
        "total_count": 50, "correct_answers_count": correct, "incorrect_answers_count": 5,
        "unanswered_answers_count": 45 - correct, "partial_correct_answers_count": 0,
        "score": f"{4 * correct - 5}.00", "percentage": f"{(4 * correct - 5) / 2:.2f}", "key": PUBLIC_KEY,
        "attempt_start_time": "2026-12-07T09:00:00.000000Z", "completed_on": "2026-12-07T10:25:00.000000Z",
    }
    texts = {name: json.dumps(payload[name]).strip('"') for name in WEBHOOK_SIGNED_FIELDS}
    return json.dumps({**payload, "hash": webhook_hash(texts, PRIVATE_KEY)}).encode()


def testpress_id(body: bytes) -> str:
    return str(json.loads(body)["attempt_id"])


# --- in-process figures --------------------------------------------------------------------

def in_process_app(database_uri: str, log_path: Path):
    """The portal in this process, for a test client: its log goes to a file, as a server's would."""
    return add_signed_insert(create_app({**portal_settings(database_uri), "LOGGING": logging_to(log_path)}))


def deliver(client, body: bytes, expected: str) -> None:
    response = client.post(WEBHOOK, data=body, content_type="application/json")
    if response.status_code != 200 or response.get_json() != {"status": expected}:
        sys.exit(f"webhook_bench: a delivery answered {response.status_code} {response.get_data(as_text=True)}, "
                 f"not {expected}")


def in_process_figures(app, floor_app, firsts: list[bytes], repeats: list[bytes]) -> dict:
    """{label: (statements, Python calls per request)} for the floors, a repeat and a first
    delivery, and the statements' names; spends `firsts`' bodies."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_) -> None:
        statements.append(statement)

    client = app.test_client()
    figures = {}
    sa.event.listen(engine, "before_cursor_execute", count)
    for label, body, expected in ((REPEAT, repeats[0], "unchanged"), (FIRST, firsts[0], "recorded")):
        statements.clear()
        deliver(client, body, expected)
        figures[label] = [statement_name(text) for text in statements]
    sa.event.remove(engine, "before_cursor_execute", count)
    calls = {
        REPEAT: function_calls(lambda n: deliver(client, repeats[n % len(repeats)], "unchanged")),
        FIRST: function_calls(lambda n: deliver(client, firsts[1 + n], "recorded"), len(firsts) - 1),
    }
    floor_client = floor_app.test_client()
    for label, path in ((FLOOR, "/"), (SIGNED_FLOOR, "/signed")):
        calls[label] = function_calls(lambda n, path=path: floor_client.post(path, data=repeats[0]))
    calls[PORTAL_FLOOR] = function_calls(lambda n: client.post(SIGNED_INSERT, data=repeats[0]))
    return {"statements": figures, "calls": calls}


def function_calls(request, count: int = 50) -> int:
    """Python function calls per request(n) (cProfile's count): the same in every run, whatever
    the host does, so the figure to compare two versions of the code by."""
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(count):
        request(n)
    profiler.disable()
    return round(pstats.Stats(profiler).total_calls / count)


_TABLE = re.compile(r"^(?:(SELECT) .*? FROM (\w+)|(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+))", re.S)
_BRACKETS = re.compile(r"\([^()]*\)")


def statement_name(text: str) -> str:
    """A statement as its verb and table: "SELECT attempts", "INSERT webhook_deliveries" (the
    table of its own FROM, not of a subquery's)."""
    text, bracketed = " ".join(text.split()), None
    if called := re.match(r"SELECT (\w+)\(", text):  # PostgreSQL's locks: SELECT pg_advisory_xact_lock(...)
        return f"SELECT {called.group(1)}()"
    while bracketed != text:
        bracketed, text = text, _BRACKETS.sub("", text)
    found = _TABLE.match(text)
    return " ".join(part for part in found.groups() if part) if found else " ".join(text.split()[:2])


def profile(app, bodies: list[bytes], kind: str) -> None:
    """Where a delivery's time goes: cProfile over deliveries on a test client."""
    client = app.test_client()
    expected = "unchanged" if kind == "repeat" else "recorded"
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [deliver(client, body, expected) for body in bodies])
    figures = pstats.Stats(profiler)
    print(f"{len(bodies)} {kind} deliveries, {figures.total_calls / len(bodies):.0f} calls each; "
          f"{figures.total_tt * 1000 / len(bodies):.2f} ms each under the profiler")
    figures.sort_stats("cumulative").print_stats(45)
    figures.sort_stats("tottime").print_stats(25)


# --- the run -------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per target and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--launches", type=int, default=40_000,
                        help="launches seeded: enough first deliveries for every load of them")
    parser.add_argument("--database", help="an empty database's URL for the portal (default: a fresh SQLite file)")
    parser.add_argument("--profile", choices=("first", "repeat"), help="profile deliveries in-process, then stop")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="portal-webhook-bench-"))
    database_uri = options.database or f"sqlite:///{folder / 'portal.sqlite'}"
    bodies = seed(database_uri, options.launches)
    app = in_process_app(database_uri, folder / "in-process.log")
    client = app.test_client()
    repeats, fresh = bodies[:REPEATED], bodies[REPEATED:]
    for body in repeats:
        deliver(client, body, "recorded")
    if options.profile:
        profile(app, repeats * 2 if options.profile == "repeat" else fresh[:400], options.profile)
        return
    floor_app = create_floor(str(folder / "floor-in-process.sqlite"), public_key=PUBLIC_KEY, private_key=PRIVATE_KEY)
    in_process = in_process_figures(app, floor_app, fresh[:COUNTED], repeats)
    fresh = fresh[COUNTED:]

    repeat_file = folder / "repeats.txt"
    repeat_file.write_bytes(b"\n".join(repeats))
    loads = options.rounds + 1  # the warm-up's and every round's
    share = len(fresh) // loads
    sent_fresh: list[bytes] = []

    def fresh_bodies() -> Path:
        """The next share of bodies never sent, for one load of first deliveries."""
        start = len(sent_fresh)
        if start + share > len(fresh):
            sys.exit("webhook_bench: out of first deliveries")
        sent_fresh.extend(fresh[start:start + share])
        path = folder / f"first-{start}.txt"
        path.write_bytes(b"\n".join(fresh[start:start + share]))
        return path

    load = wrk if shutil.which("wrk") and not options.python_load else python_load
    env = {f"PORTAL_{name}": value for name, value in portal_settings(database_uri).items()}
    env |= {"INSERT_FLOOR_DATABASE": str(folder / "floor.sqlite"), "INSERT_FLOOR_PUBLIC_KEY": PUBLIC_KEY,
            "INSERT_FLOOR_PRIVATE_KEY": PRIVATE_KEY}
    headers = {"Content-Type": "application/json", "User-Agent": "webhook_bench"}
    with ExitStack() as servers:
        floor, floor_pid = servers.enter_context(gunicorn("bench.insert_floor:create()", options.workers,
                                                          folder / "floor.log", env))
        # wsgi:app, as production serves it, with the signed insert of portal_floor.py.
        portal, portal_pid = servers.enter_context(gunicorn("bench.portal_floor:served()", options.workers,
                                                            folder / "portal.log", env))
        targets = [
            Target(FLOOR, f"{floor}/", floor_pid, headers, lambda: repeat_file),
            Target(SIGNED_FLOOR, f"{floor}/signed", floor_pid, headers, lambda: repeat_file),
            Target(PORTAL_FLOOR, portal + SIGNED_INSERT, portal_pid, headers, lambda: repeat_file),
            Target(REPEAT, portal + WEBHOOK, portal_pid, headers, lambda: repeat_file),
            Target(FIRST, portal + WEBHOOK, portal_pid, headers, fresh_bodies),
        ]
        rates, cpu = interleaved(targets, load, options.rounds, options.seconds, options.connections)
    check(app, sent_fresh, folder / "portal.log")

    print(f"gunicorn -w {options.workers} (sync), {'wrk' if load is wrk else 'Python load'}, "
          f"{options.connections} connections, {options.rounds} interleaved rounds of {options.seconds:g} s, "
          f"medians; {options.launches:,} launches; the portal on {db_name(database_uri)}, the floor on SQLite")
    print(report(rates, cpu, floor=FLOOR, heading="target"))
    print("\nIn-process, on a test client: SQL statements and Python calls per request")
    for label, calls in in_process["calls"].items():
        names = in_process["statements"].get(label)
        shown = f"{len(names):>2} statements: {', '.join(names)}" if names is not None else ""
        print(f"{label:<24} {calls:>6,} calls  {shown}")


def check(app, sent_fresh: list[bytes], log_path: Path) -> None:
    """Every first delivery recorded once, and the server's log free of errors: else no figure."""
    with app.app_context():
        outcomes = Counter(db.session.execute(sa.select(WebhookDelivery.testpress_attempt_id,
                                                        WebhookDelivery.outcome)).all())
    wrong = [tid for tid in map(testpress_id, sent_fresh) if outcomes[(tid, "unchanged")]]
    recorded = sum(1 for tid in map(testpress_id, sent_fresh) if outcomes[(tid, "recorded")])
    if wrong:
        sys.exit(f"webhook_bench: {len(wrong)} first deliveries were sent twice: raise --launches")
    log = log_path.read_text()
    for trouble in ("Traceback", "database is locked"):
        if trouble in log:
            sys.exit(f"webhook_bench: the portal's log holds {trouble!r}: see {log_path}")
    print(f"{recorded:,} first deliveries recorded, none sent twice; the portal's log holds no error\n")


def db_name(uri: str) -> str:
    return "SQLite file" if uri.startswith("sqlite") else sa.make_url(uri).get_backend_name()


if __name__ == "__main__":
    main()
