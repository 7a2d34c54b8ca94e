"""The dashboard, every attempt, and one attempt's history."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import joinedload

from portal.admin import bp
from portal.dashboard import dashboard_figures
from portal.extensions import db
from portal.forms import ActionForm
from portal.inputs import row_id
from portal.models import Attempt, Exam, User
from portal.pagination import paginate
from portal.people import normalise_email
from portal.testpress import sync
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings

ATTEMPTS_PER_STAFF_PAGE = 50


@bp.route("/")
def dashboard():
    """Totals, per-exam analytics and what needs a staff member's attention."""
    return render_template("admin/dashboard.html", **dashboard_figures().as_context())


@bp.route("/attempts/")
def attempts():
    """Every attempt, newest first, filterable by exam, student, status and flag."""
    query = sa.select(Attempt).options(joinedload(Attempt.student), joinedload(Attempt.exam))
    exam_id = row_id("exam")
    status = request.args.get("status", "")
    email = request.args.get("student", "").strip()
    flagged = request.args.get("flagged") == "1"
    if exam_id:
        query = query.where(Attempt.exam_id == exam_id)
    if status:
        query = query.where(Attempt.status == status)
    if email:
        # autoescape: a "%" or "_" typed by staff is that character, not a wildcard.
        query = query.join(Attempt.student).where(User.email.contains(normalise_email(email), autoescape=True))
    if flagged:
        query = query.where(Attempt.flagged)
    page = paginate(query.order_by(Attempt.started_at.desc(), Attempt.id.desc()), ATTEMPTS_PER_STAFF_PAGE)
    filters = {"exam": exam_id or "", "status": status, "student": email, "flagged": "1" if flagged else ""}
    return render_template("admin/attempts.html", page=page, filters=filters,
                           exams=db.session.scalars(sa.select(Exam).order_by(Exam.title)).all())


@bp.route("/attempts/<int:attempt_id>")
def attempt(attempt_id: int):
    """One attempt with every report each source made of it. 404 if unknown."""
    return render_template("admin/attempt.html", attempt=db.get_or_404(Attempt, attempt_id), action=ActionForm())


@bp.post("/attempts/<int:attempt_id>/confirm")
def confirm_attempt(attempt_id: int):
    """Ask Testpress's Admin API for the truth of one attempt now, and record its answer.

    400 without a valid CSRF token, 404 for an unknown attempt; Testpress's own failures are
    a message on the attempt's page.
    """
    if not ActionForm().validate_on_submit():
        abort(400)
    attempt = db.get_or_404(Attempt, attempt_id)
    if attempt.testpress_attempt_id is None:
        flash("Testpress has not reported this attempt yet, so there is nothing to ask it about.", "error")
    else:
        try:
            found = sync.confirm_attempt(TestpressClient.from_settings(testpress_settings()), attempt.id)
        except TestpressError as error:
            flash(f"Testpress could not be asked: {error}", "error")
        else:
            flash("Recorded what Testpress's Admin API says of this attempt." if found
                  else "Testpress's Admin API does not list this attempt.", "success" if found else "error")
    return redirect(url_for("admin.attempt", attempt_id=attempt_id))
