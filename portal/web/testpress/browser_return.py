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
import time

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, request, url_for
from limits import parse as parse_rate

from portal.attempts.reconciliation import record_report
from portal.core.database import DatabaseBusy, write_transaction
from portal.core.extensions import db, limiter
from portal.models import Attempt
from portal.testpress.reports import RETURN_REQUIRED, BadReport, from_return
from portal.testpress.settings import TestpressSettings, testpress_settings
from portal.testpress.signing import verify_launch_hmac
from portal.web.errors import in_words

bp = Blueprint("testpress_return", __name__)


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
    if not any(fields.get(name, "").strip() for name in RETURN_REQUIRED):
        # Opened by hand (a bookmark, the back button): nothing of Testpress's, nothing to refuse.
        current_app.logger.info("return: opened without any of Testpress's fields from %s", request.remote_addr)
        return current_app.jinja_env.get_template("student/return_empty.html").render(), 400
    try:
        returned = from_return(fields)
        settings = testpress_settings()
        # Counted against the verified launch and student, before the lock is taken: a
        # return nobody signed counts against nobody.
        launch = verified_attempt(returned.institute_attempt_id, fields, settings)
        if (wait := _rate_refusal(launch)) is not None:
            return keep_for_later(fields, wait)
        # The launch is read again under its student's lock: the webhook for the same attempt
        # may be being recorded this very moment, in another worker.
        with write_transaction(keys=[("student", launch.student_id)]):
            attempt = verified_attempt(returned.institute_attempt_id, fields, settings)
            changed = record_report(attempt, returned.report)
            attempt_id = attempt.id
    except BadReport as bad:
        return refuse(ReturnRefused(bad.reason), fields)
    except ReturnRefused as refusal:
        return refuse(refusal, fields)
    except DatabaseBusy:
        return keep_for_retry(fields)
    current_app.logger.info(
        "return: attempt %s (institute_attempt_id %s) reported %s%s",
        attempt_id, returned.institute_attempt_id, returned.report.status, "" if changed else ", unchanged (replay)",
    )
    return redirect(url_for("student.result", attempt_id=attempt_id), 303)


RETURNS = "browser-returns"


def _rate_refusal(attempt: Attempt) -> int | None:
    """Count this return against its launch and its student; the seconds to wait when either
    is past its limit (RETURN_LAUNCH_RATE_LIMIT, RETURN_STUDENT_RATE_LIMIT), else None."""
    if not limiter.enabled:
        return None
    strategy, config = limiter.limiter, current_app.config
    for setting, key in (("RETURN_LAUNCH_RATE_LIMIT", f"launch:{attempt.id}"),
                         ("RETURN_STUDENT_RATE_LIMIT", f"student:{attempt.student_id}")):
        limit = parse_rate(config[setting])
        try:
            counted = strategy.hit(limit, RETURNS, key)
        except sa.exc.OperationalError as error:  # the counters' database stayed locked
            raise DatabaseBusy("the rate limit's counter stayed locked") from error
        if not counted:
            return max(1, math.ceil(strategy.get_window_stats(limit, RETURNS, key).reset_time - time.time()))
    return None


def keep_for_retry(fields):
    """503 with a page that holds the returned fields, so the student's one press re-sends
    them: the browser return is sent once, and a result the portal dropped would be lost."""
    current_app.logger.warning("return: database busy for institute_attempt_id %r; kept in the student's page",
                               str(fields.get("institute_attempt_id", ""))[:32])
    page = current_app.jinja_env.get_template("student/return_busy.html").render(fields=list(fields.items(multi=True)))
    return page, 503, {"Retry-After": "5"}


def keep_for_later(fields, wait: int):
    """429 with a page that holds the returned fields for one more press once `wait` seconds
    have passed: this launch (or student) sent more returns than a student's browser does."""
    current_app.logger.warning("return: too many returns for institute_attempt_id %r from %s; kept in the "
                               "student's page for %ss", str(fields.get("institute_attempt_id", ""))[:32],
                               request.remote_addr, wait)
    page = current_app.jinja_env.get_template("student/return_wait.html").render(
        fields=list(fields.items(multi=True)), wait=in_words(wait))
    return page, 429, {"Retry-After": str(wait)}


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


def verified_attempt(institute_attempt_id: int, fields, settings: TestpressSettings) -> Attempt:
    """The launch the return answers, once its hmac and student check out; raises ReturnRefused."""
    attempt = db.session.scalar(sa.select(Attempt).where(Attempt.institute_attempt_id == institute_attempt_id))
    if attempt is None or attempt.launch_time is None:
        raise ReturnRefused("The portal has no launch with this institute_attempt_id.", 404)
    email, first_name = fields["email"], fields["first_name"]
    signed = verify_launch_hmac(
        settings.secret, fields["hmac"].strip(),
        # Signed as sent: the reference's text, not the number it reads as.
        email=email, first_name=first_name, institute_attempt_id=fields["institute_attempt_id"].strip(),
        key=settings.public_key, time=attempt.launch_time, encoding=settings.encoding,
    )
    if not signed:
        raise ReturnRefused("The hmac does not match the returned fields.")
    if email.strip().lower() != attempt.student.email.lower() or first_name != attempt.student.name:
        raise ReturnRefused("The returned student does not match the student who launched this attempt.")
    if not attempt.student.active:
        raise ReturnRefused("This account has been deactivated, so the portal does not record its results. "
                            "Please ask your institute.", 403)
    return attempt
