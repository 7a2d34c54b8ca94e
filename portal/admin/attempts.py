"""The dashboard and every attempt (one attempt's page is portal.admin.trust)."""

import sqlalchemy as sa
from flask import render_template, request
from sqlalchemy.orm import joinedload

from portal.admin import bp
from portal.dashboard import dashboard_figures
from portal.extensions import db
from portal.inputs import page_number, row_id
from portal.models import Attempt, Exam, User
from portal.people import normalise_email

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
    page = db.paginate(query.order_by(Attempt.started_at.desc(), Attempt.id.desc()),
                       page=page_number(ATTEMPTS_PER_STAFF_PAGE), per_page=ATTEMPTS_PER_STAFF_PAGE)
    filters = {"exam": exam_id or "", "status": status, "student": email, "flagged": "1" if flagged else ""}
    return render_template("admin/attempts.html", page=page, filters=filters,
                           exams=db.session.scalars(sa.select(Exam).order_by(Exam.title)).all())
