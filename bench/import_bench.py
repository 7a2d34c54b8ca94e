"""Benchmark the people import: the preview and the confirmation of a large CSV file.

    .venv/bin/python bench/import_bench.py                 # 10,000 rows, and 500 with passwords
    .venv/bin/python bench/import_bench.py --rows 20000

Each run goes through the staff pages (Flask's test client, so no socket time) into a
SQLite file database already holding 10,000 people: the upload (kept for the preview),
the preview page listing every row, and the confirmation that writes every row in one
transaction (people, batch memberships, a one-time link for each person without a
password) and answers with the links CSV. Prints seconds for each step.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.database import create_database_file  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.passwords import hash_password  # noqa: E402
from portal.models import Batch, User  # noqa: E402

STAFF_PASSWORD = "bench-staff-password"


def csv_text(rows: int, *, start: int, passwords: bool) -> bytes:
    lines = ["email,name,password,batch"]
    for number in range(start, start + rows):
        password = f"pass-{number:08d}" if passwords else ""
        lines.append(f"student{number}@example.com,Student Number {number},{password},Batch {number % 20}")
    return ("\n".join(lines) + "\n").encode()


def timed(action):
    """The response and the seconds it took, its body (a streamed CSV, say) read in full."""
    started = time.perf_counter()
    response = action()
    response.get_data()
    return response, time.perf_counter() - started


def run(client, label: str, data: bytes, expected: int) -> None:
    upload, upload_s = timed(lambda: client.post(
        "/admin/people/import", data={"file": (io.BytesIO(data), "bench.csv")}, content_type="multipart/form-data"))
    assert upload.status_code == 303, upload.status_code
    url = upload.headers["Location"]
    preview, preview_s = timed(lambda: client.get(url))
    assert preview.status_code == 200 and "Confirm import" in preview.get_data(as_text=True)
    confirm, confirm_s = timed(lambda: client.post(url + "/confirm", data={
        "new_batch": [f"Batch {number}" for number in range(20)]}))
    body = confirm.get_data()
    assert confirm.status_code in (200, 303), confirm.status_code
    print(f"{label:<28} upload {upload_s:6.2f} s   preview page {preview_s:6.2f} s   "
          f"confirm {confirm_s:6.2f} s   ({len(body):,} bytes of links)")
    assert db.session.scalar(sa.select(sa.func.count(User.id))) >= expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--with-passwords", type=int, default=500)
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="portal-import-bench-"))
    app = create_app({
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'p.sqlite'}",
        "SESSION_COOKIE_SECURE": False, "WTF_CSRF_ENABLED": False,
        "IMPORT_MAX_PASSWORDS": max(500, options.with_passwords),
    })
    app.logger.disabled = True
    with app.app_context():
        create_database_file()
        db.create_all()
        existing = hash_password("not used")
        db.session.execute(sa.insert(User), [
            {"email": f"existing{number}@example.com", "name": f"Existing {number}", "password_hash": existing}
            for number in range(10_000)])
        db.session.add(User(email="staff@example.com", name="Staff", is_staff=True,
                            password_hash=hash_password(STAFF_PASSWORD)))
        db.session.add_all(Batch(name=f"Batch {number}") for number in range(10))  # 10 known, 10 new
        db.session.commit()
        client = app.test_client()
        client.post("/login", data={"email": "staff@example.com", "password": STAFF_PASSWORD})
        print(f"SQLite, {10_000:,} people already; times include rendering and the test client's WSGI call")
        base = 10_001
        run(client, f"{options.rows:,} rows, no passwords", csv_text(options.rows, start=0, passwords=False),
            base + options.rows)
        run(client, f"{options.with_passwords:,} rows with passwords",
            csv_text(options.with_passwords, start=options.rows, passwords=True),
            base + options.rows + options.with_passwords)


if __name__ == "__main__":
    main()
