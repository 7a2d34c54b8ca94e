"""The return: Testpress sends the student's browser back to `surl` with the attempt's result.

CONTRACT.md section 2. The hmac covers only email, first_name and institute_attempt_id
(with our key and the launch's stored time), never the scores, so the scores are recorded
as an unverified "return" report that the webhook or the Admin API may later confirm.

The POST arrives cross-site, so with SameSite=Lax the session cookie is absent. This
handler therefore never reads or writes the session (nor `current_user`, which would):
a response that set a fresh session cookie would log the student out. Even its refusal
page is rendered without the portal's layout and context processors, which read
`current_user`.
"""

from __future__ import annotations

import math
import re

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, request, url_for

from portal.database import DatabaseBusy, write_transaction
from portal.extensions import db
from portal.models import Attempt, utcnow
from portal.reconciliation import Report, record_report
from portal.testpress.settings import TestpressSettings, testpress_settings
from portal.testpress.signing import verify_launch_hmac

bp = Blueprint("testpress_return", __name__)

REQUIRED_FIELDS = ("email", "first_name", "institute_attempt_id", "status", "hmac")
RETURN_STATUSES = ("completed", "cancelled", "pending")
COUNT_FIELDS = ("total_count", "correct_count", "incorrect_count", "unanswered_count", "rank", "max_rank")
DECIMAL_FIELDS = ("score", "max_score", "percentage")

# Plain decimals only: float() alone would also take "1_000", "nan" and "1e400".
DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
TESTPRESS_ID_TEXT = re.compile(r"[A-Za-z0-9_-]{1,32}")
INSTITUTE_ID_TEXT = re.compile(r"[0-9]{1,19}")
LARGEST_INSTITUTE_ID = 2**63 - 1  # the column is 64-bit: a larger number cannot be ours
# Testpress is a Python service: a rank it does not compute may arrive as the text "None".
ABSENT_TEXTS = ("", "none", "null")
LARGEST_COUNT = 10**9  # far beyond any exam, well inside a 64-bit column
LONGEST_NUMBER = 24


class ReturnRefused(Exception):
    """A return that must not be recorded; `reason` is safe to show and to log."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@bp.route("/testpress/return", methods=["GET", "POST"])
def receive_return():
    """Verify and record the result Testpress sends back, then 303 to the attempt's results page.

    Answers 400 for missing or malformed fields, a bad hmac or a student other than the
    launch's; 404 for an institute_attempt_id the portal never issued; 503 with a page that
    keeps the result for one more press when the database stays busy. Nothing is recorded
    on a refusal.
    """
    fields = request.form if request.method == "POST" else request.args
    try:
        report = report_from_fields(fields)
        # The launch is read under the write lock: the webhook for the same attempt may be
        # being recorded this very moment, in another worker.
        with write_transaction():
            attempt = verified_attempt(fields, testpress_settings())
            changed = record_report(attempt, report)
            attempt_id, reference = attempt.id, attempt.institute_attempt_id
    except ReturnRefused as refusal:
        return refuse(refusal, fields)
    except DatabaseBusy:
        return keep_for_retry(fields)
    current_app.logger.info(
        "return: attempt %s (institute_attempt_id %s) reported %s%s",
        attempt_id, reference, report.status, "" if changed else ", unchanged (replay)",
    )
    return redirect(url_for("student.result", attempt_id=attempt_id), 303)


def keep_for_retry(fields):
    """503 with a page that holds the returned fields, so the student's one press re-sends
    them: the browser return is sent once, and a result the portal dropped would be lost."""
    current_app.logger.warning("return: database busy for institute_attempt_id %r; kept in the student's page",
                               str(fields.get("institute_attempt_id", ""))[:32])
    page = current_app.jinja_env.get_template("student/return_busy.html").render(fields=list(fields.items(multi=True)))
    return page, 503, {"Retry-After": "5", "Cache-Control": "no-store"}


def refuse(refusal: ReturnRefused, fields):
    # The institute_attempt_id is our own reference, safe to log; the hmac and the
    # student's details are not logged.
    reference = str(fields.get("institute_attempt_id", ""))[:32]
    current_app.logger.warning(
        "return: refused %s for institute_attempt_id %r from %s: %s",
        refusal.status, reference, request.remote_addr, refusal.reason,
    )
    # Rendered straight from the Jinja environment: render_template's context processors
    # would load current_user (and so read, or even rewrite, the session).
    page = current_app.jinja_env.get_template("student/return_refused.html").render(reason=refusal.reason)
    return page, refusal.status


def report_from_fields(fields) -> Report:
    """Parse the returned fields into a "return" Report; raises ReturnRefused naming the problem."""
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name, "").strip()]
    if missing:
        raise ReturnRefused(f"Missing field(s): {', '.join(missing)}.")
    reference = fields["institute_attempt_id"].strip()
    if not INSTITUTE_ID_TEXT.fullmatch(reference) or int(reference) > LARGEST_INSTITUTE_ID:
        raise ReturnRefused("institute_attempt_id must be a number the portal issued.")
    status = fields["status"].strip().lower()
    if status not in RETURN_STATUSES:
        raise ReturnRefused(f"status must be one of {', '.join(RETURN_STATUSES)}.")
    numbers = {name: parse_count(name, fields.get(name)) for name in COUNT_FIELDS}
    numbers |= {name: parse_decimal(name, fields.get(name)) for name in DECIMAL_FIELDS}
    return Report(
        source="return",
        status=status,
        testpress_attempt_id=parse_testpress_id(fields.get("attempt_id")),
        # The browser comes back the moment the student submits: that is when it completed.
        completed_at=utcnow() if status == "completed" else None,
        **numbers,
    )


def parse_decimal(name: str, text: str | None) -> float | None:
    """ "81.50" -> 81.5; empty, missing or "None" -> None; anything else -> ReturnRefused."""
    text = (text or "").strip()
    if text.lower() in ABSENT_TEXTS:
        return None
    if len(text) > LONGEST_NUMBER or not DECIMAL_TEXT.fullmatch(text):
        raise ReturnRefused(f"{name} must be a number.")
    value = float(text)
    if not math.isfinite(value):
        raise ReturnRefused(f"{name} must be a number.")
    return value


def parse_count(name: str, text: str | None) -> int | None:
    """A count or rank: a whole number from 0 up ("12" and "12.0" alike), or None when absent."""
    value = parse_decimal(name, text)
    if value is None:
        return None
    if not value.is_integer() or not 0 <= value <= LARGEST_COUNT:
        raise ReturnRefused(f"{name} must be a whole number from 0 up.")
    return int(value)


def parse_testpress_id(text: str | None) -> str | None:
    """Testpress's attempt id, which may be empty (a cancelled attempt); refused if not id-like."""
    text = (text or "").strip()
    if not text:
        return None
    if not TESTPRESS_ID_TEXT.fullmatch(text):
        raise ReturnRefused("attempt_id is not a Testpress attempt id.")
    return text


def verified_attempt(fields, settings: TestpressSettings) -> Attempt:
    """The launch the return answers, once its hmac and student check out; raises ReturnRefused."""
    reference = fields["institute_attempt_id"].strip()
    attempt = db.session.scalar(sa.select(Attempt).where(Attempt.institute_attempt_id == int(reference)))
    if attempt is None or attempt.launch_time is None:
        raise ReturnRefused("The portal has no launch with this institute_attempt_id.", 404)
    email, first_name = fields["email"], fields["first_name"]
    signed = verify_launch_hmac(
        settings.secret, fields["hmac"].strip(),
        email=email, first_name=first_name, institute_attempt_id=reference,
        key=settings.public_key, time=attempt.launch_time, encoding=settings.encoding,
    )
    if not signed:
        raise ReturnRefused("The hmac does not match the returned fields.")
    if email.strip().lower() != attempt.student.email.lower() or first_name != attempt.student.name:
        raise ReturnRefused("The returned student does not match the student who launched this attempt.")
    return attempt
