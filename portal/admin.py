"""Staff pages: analytics, every attempt, exams, people, and Testpress traffic.

Every route here is guarded once, by `require_staff`; a test walks the URL map to
prove that no `admin.*` endpoint answers a student.
"""

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal.dashboard import dashboard_figures
from portal.extensions import db
from portal.forms import ActionForm, ExamForm, StudentForm
from portal.inputs import page_number, row_id
from portal.models import Attempt, Exam, SyncRun, UnmatchedReport, User, WebhookDelivery, utcnow
from portal.exams import ExamError, add_exam, update_exam
from portal.people import OwnAccount, PersonError, create_person, deactivate, normalise_email, reactivate
from portal.testpress import sync
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings

bp = Blueprint("admin", __name__, url_prefix="/admin")

ATTEMPTS_PER_STAFF_PAGE = 50


@bp.before_request
def require_staff():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_staff:
        abort(403)


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


@bp.route("/exams/")
def exams():
    """Every exam with its attempt count and a form to add one."""
    rows = db.session.execute(
        sa.select(Exam, sa.func.count(Attempt.id)).outerjoin(Attempt).group_by(Exam.id).order_by(Exam.title)
    ).all()
    return render_template("admin/exams.html", rows=rows, now=utcnow())


@bp.route("/exams/new", methods=["GET", "POST"])
@bp.route("/exams/<int:exam_id>/edit", methods=["GET", "POST"])
def edit_exam(exam_id: int | None = None):
    """Create or edit an exam. 404 for an unknown exam; the form again (422) on bad values."""
    exam = db.get_or_404(Exam, exam_id) if exam_id else None
    form = ExamForm(exam)
    if form.validate_on_submit():
        try:
            exam = update_exam(exam, **form.exam_fields()) if exam else add_exam(**form.exam_fields())
        except ExamError as error:  # the database's word, when another request won a race
            form[error.field].errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Saved “{exam.title}”.", "success")
            return redirect(url_for("admin.exams"))
    return render_template("admin/exam_form.html", form=form, exam=exam), 422 if form.errors else 200


@bp.route("/people/")
def people():
    """Students and staff with their attempt counts, and a form to add a person."""
    return render_people(StudentForm())


@bp.route("/people/new", methods=["POST"])
def add_person():
    """Add a student or staff member; the list again (422) with errors on bad values."""
    form = StudentForm()
    if form.validate_on_submit():
        try:
            person = create_person(form.email.data, form.name.data, form.password.data, staff=form.is_staff.data)
        except PersonError as error:  # the database's word, when another request won a race
            form[error.field].errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Added {person.email}.", "success")
            return redirect(url_for("admin.people"))
    return render_people(form), 422


def render_people(form: StudentForm) -> str:
    rows = db.session.execute(
        sa.select(User, sa.func.count(Attempt.id)).outerjoin(Attempt).group_by(User.id)
        .order_by(User.is_staff.desc(), User.name)
    ).all()
    return render_template("admin/people.html", rows=rows, form=form, action=ActionForm())


@bp.route("/people/<int:user_id>/active", methods=["POST"])
def toggle_active(user_id: int):
    """Deactivate or reactivate an account. 400 without a CSRF token, 404 for an unknown
    person; staff cannot deactivate themselves (a message on the list)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    person = db.get_or_404(User, user_id)
    try:
        if person.active:
            deactivate(person, by=current_user)
        else:
            reactivate(person)
    except OwnAccount as refusal:
        flash(str(refusal), "error")
    else:
        db.session.commit()
        flash(f"{person.email} is now {'active' if person.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.people"))


@bp.route("/testpress/")
def testpress():
    """Recent webhook deliveries, unmatched reports and sync runs."""
    deliveries = db.session.scalars(
        sa.select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(100)).all()
    unmatched = db.session.scalars(
        sa.select(UnmatchedReport).order_by(UnmatchedReport.id.desc()).limit(100)).all()
    runs = db.session.scalars(sa.select(SyncRun).order_by(SyncRun.id.desc()).limit(20)).all()
    return render_template("admin/testpress.html", deliveries=deliveries, unmatched=unmatched, runs=runs)


@bp.route("/testpress/check", methods=["GET", "POST"])
def testpress_check():
    """Offer the integration check (GET); run it and show its findings (POST, with CSRF).

    It only reads, so its answer is the page itself rather than a redirect.
    """
    from portal.testpress.check import run_checks

    form = ActionForm()
    report = run_checks() if form.validate_on_submit() else None
    return render_template("admin/testpress_check.html", form=form, report=report)
