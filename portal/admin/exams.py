"""Exams: the list, and adding or editing one."""

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for

from portal.admin import bp
from portal.exams import ExamError, add_exam, update_exam
from portal.extensions import db
from portal.forms import ExamForm
from portal.models import Attempt, Exam, utcnow


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
