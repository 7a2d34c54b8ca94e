"""Benchmark the webhook receiver: how long one signed delivery takes to verify and record.

    .venv/bin/python bench/webhook_bench.py               # 2,000 deliveries
    .venv/bin/python bench/webhook_bench.py --count 500

Each delivery is a real signed "completed" payload for a launch the portal made, posted
through the WSGI stack (Flask's test client, so no socket time) into a SQLite file
database: verification, matching, record_report and the commit. Half are first deliveries
and half exact repeats, as Testpress's retries produce. Prints the median, 95th percentile
and maximum per delivery, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.core.database import create_database_file  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.models import Attempt, Exam, User  # noqa: E402
from portal.testpress.signing import WEBHOOK_SIGNED_FIELDS, webhook_hash  # noqa: E402

PUBLIC_KEY, PRIVATE_KEY = "bench-public-key", "bench-private-key"


def signed_body(attempt: Attempt, testpress_id: int) -> bytes:
    payload = {
        "username": f"student{attempt.student_id}", "email": attempt.student.email, "user_id": attempt.student_id,
        "attempt_id": testpress_id, "attempt_state": "completed", "institute_attempt_id": attempt.institute_attempt_id,
        "exam": {"id": attempt.exam.testpress_id, "title": attempt.exam.title},
        "total_count": 5, "correct_answers_count": 3, "incorrect_answers_count": 1, "unanswered_answers_count": 1,
        "score": "11.00", "percentage": "55.00", "key": PUBLIC_KEY,
    }
    texts = {name: payload[name] if isinstance(payload[name], str) else json.dumps(payload[name])
             for name in WEBHOOK_SIGNED_FIELDS}
    payload["hash"] = webhook_hash(texts, PRIVATE_KEY)
    return json.dumps(payload).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    count = parser.parse_args().count

    folder = Path(tempfile.mkdtemp(prefix="portal-webhook-bench-"))
    app = create_app({
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'p.sqlite'}",
        "TESTPRESS_PUBLIC_KEY": PUBLIC_KEY, "TESTPRESS_SECRET": "bench-secret", "TESTPRESS_PRIVATE_KEY": PRIVATE_KEY,
    })
    app.logger.disabled = True  # one log line per delivery is real work, but not what this measures
    with app.app_context():
        create_database_file()  # the app opens an existing file only
        db.create_all()
        exam = Exam(title="Bench exam", exam_url="https://t.example/x", testpress_id=1)
        students = [User(email=f"s{n}@example.com", name=f"S{n}", password_hash="-") for n in range(count // 2)]
        launches = [Attempt(student=s, exam=exam, institute_attempt_id=10**12 + n, launch_time=0)
                    for n, s in enumerate(students)]
        db.session.add_all(launches)
        db.session.commit()
        bodies = [signed_body(a, 5000 + n) for n, a in enumerate(launches)]

    client = app.test_client()
    timings = []
    for body in bodies + bodies:  # first deliveries, then Testpress's repeats
        started = time.perf_counter()
        response = client.post("/testpress/webhook", data=body, content_type="application/json")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)

    timings.sort()
    print(f"{len(timings)} webhook deliveries (half of them repeats), per delivery:")
    print(f"  median {statistics.median(timings):.2f} ms   p95 {timings[int(len(timings) * 0.95)]:.2f} ms"
          f"   max {timings[-1]:.2f} ms")


if __name__ == "__main__":
    main()
