"""Exams: the list with its publish buttons, an exam's page, adding or editing one, archiving
and deleting. Each change is one service of portal.exams.rules, which writes its audit entry; the
view commits it with the change, in one transaction."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.clock import utcnow
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.exams.rules import add_exam, delete_exam, set_archived, set_published, snapshot, update_exam
from portal.models import Attempt, Batch, Exam, exam_batches
from portal.web.admin.actions import acted_on, wanted_state
from portal.web.admin.blueprint import bp
from portal.web.forms import ActionForm, ChangedMeanwhile, ExamForm, require_unchanged


def exam_batch_names(exam_ids: list[int]) -> dict[int, list[str]]:
    """Each exam's batches by name, in one statement (an exam without any is for everyone)."""
    names: dict[int, list[str]] = {}
    if exam_ids:
        rows = db.session.execute(
            sa.select(exam_batches.c.exam_id, Batch.name).join(Batch, Batch.id == exam_batches.c.batch_id)
            .where(exam_batches.c.exam_id.in_(exam_ids)).order_by(Batch.name))
        for exam_id, name in rows:
            names.setdefault(exam_id, []).append(name)
    return names


@bp.get("/exams/")
def exams():
    """Every exam (the archived ones with ?archived=1) with its state, batches and attempt count."""
    archived = request.args.get("archived") == "1"
    rows = db.session.execute(
        sa.select(Exam, sa.func.count(Attempt.id)).outerjoin(Attempt)
        .where(Exam.archived_at.is_not(None) if archived else Exam.archived_at.is_(None))
        .group_by(Exam.id).order_by(Exam.title)
    ).all()
    archived_count = db.session.scalar(sa.select(sa.func.count(Exam.id)).where(Exam.archived_at.is_not(None)))
    return render_template("admin/exams/exams.html", rows=rows, now=utcnow(), archived=archived,
                           archived_count=archived_count, batches=exam_batch_names([exam.id for exam, _ in rows]),
                           action=ActionForm())


@bp.get("/exams/<int:exam_id>")
def exam(exam_id: int):
    """One exam: details, rules, batches, its attempts and actions. 404 for an unknown exam."""
    found = db.get_or_404(Exam, exam_id)
    count = db.session.scalar(sa.select(sa.func.count(Attempt.id)).where(Attempt.exam_id == found.id))
    return render_template("admin/exams/exam.html", exam=found, attempt_count=count, now=utcnow(), action=ActionForm(),
                           missing_testpress_id=MISSING_TESTPRESS_ID)


@bp.route("/exams/new", methods=["GET", "POST"])
@bp.route("/exams/<int:exam_id>/edit", methods=["GET", "POST"])
def edit_exam(exam_id: int | None = None):
    """Create (as a draft) or edit an exam. 404 for an unknown exam; the form again on bad
    values (422), or with the staff member's values kept when someone saved the exam since
    the form was opened (409)."""
    exam = db.get_or_404(Exam, exam_id) if exam_id else None
    form = ExamForm(exam)
    if not form.validate_on_submit():
        return render_template("admin/exams/exam_form.html", form=form, exam=exam), 422 if form.errors else 200
    try:
        with write_transaction():  # owns the exam from the comparison below to the commit
            if exam:
                exam = db.get_or_404(Exam, exam.id)  # (deleted meanwhile: 404)
                require_unchanged(form, snapshot(exam))
            exam = save_exam(exam, form)
    except ChangedMeanwhile:
        current_app.logger.info("exams: edit of exam %s refused: changed since the form was opened", exam_id)
        form.form_errors.append(
            f"Someone saved a change to “{exam.title}” after you opened this form, so nothing was saved: "
            "saving this form would undo theirs. Your version is below; open the exam's page in another "
            "tab to see the one saved, then save again to replace it.")
        return render_template("admin/exams/exam_form.html", form=form, exam=exam), 409
    except DomainError as error:  # the database's word, when another request won a race
        (form[error.field].errors if error.field in form else form.title.errors).append(str(error))
        return render_template("admin/exams/exam_form.html", form=form, exam=exam), 422
    flash(f"Saved “{exam.title}”." if exam_id else
          f"Saved “{exam.title}” as a draft: students see it once you publish it.", "success")
    if exam.testpress_id is None:
        flash(f"“{exam.title}” has no Testpress exam id. {MISSING_TESTPRESS_ID}", "warning")
    return redirect(url_for("admin.exam", exam_id=exam.id))


MISSING_TESTPRESS_ID = ("Testpress's webhooks and Admin API name an exam by that id, so until it has one their "
                        "results for it match no exam: the next sync learns it from the exam's URL when Testpress "
                        "lists an exam there, or type it under Edit (Testpress's exam list shows it).")


def save_exam(exam: Exam | None, form: ExamForm) -> Exam:
    """Add the form's exam (as a draft), or change `exam` to it."""
    if exam is None:
        return add_exam(**{**form.exam_fields(), "published": False}, by=current_user)
    return update_exam(exam, **form.exam_fields(), by=current_user)


def back_to(exam: Exam):
    """Where a button returns: the page it was pressed on (the list or the exam's page)."""
    if request.form.get("back") == "list":
        return redirect(url_for("admin.exams"))
    return redirect(url_for("admin.exam", exam_id=exam.id))


@bp.post("/exams/<int:exam_id>/publish")
def publish_exam(exam_id: int):
    """Publish (published=1) or unpublish (published=0) an exam: the list's one button per row."""
    acted_on(Exam, exam_id)
    published = wanted_state("published")
    try:
        with write_transaction():  # owns the state read to the commit: a second press finds it done
            exam = db.get_or_404(Exam, exam_id)
            if exam.published == published:  # a second press, or another tab: nothing to change
                flash(f"“{exam.title}” is already {'published' if published else 'a draft'}.", "success")
                return back_to(exam)
            set_published(exam, published, by=current_user)
    except DomainError as refusal:
        flash(f"“{exam.title}” was not published: {refusal}.", "error")
        return back_to(exam)
    flash(f"“{exam.title}” is {'published: students it is for can see it' if published else 'a draft again'}.",
          "success")
    return back_to(exam)


@bp.post("/exams/<int:exam_id>/archive")
def archive_exam(exam_id: int):
    """Archive an exam (hidden from students, its attempts kept), or restore it with archived=0."""
    acted_on(Exam, exam_id)
    archived = wanted_state("archived", default=True)
    with write_transaction():  # owns the state read to the commit: a second press finds it done
        exam = db.get_or_404(Exam, exam_id)
        set_archived(exam, archived, by=current_user)  # as it is already (a second press): unchanged, unaudited
    flash(f"“{exam.title}” is "
          f"{'archived: students no longer see it, and its history is kept' if archived else 'restored'}.",
          "success")
    return redirect(url_for("admin.exam", exam_id=exam.id))


@bp.post("/exams/<int:exam_id>/delete")
def remove_exam(exam_id: int):
    """Delete an exam nobody has attempted; one with attempts is refused (a message: archive it)."""
    acted_on(Exam, exam_id)
    try:
        # Owns the count of attempts to the commit: a Start pressed meanwhile waits, then finds no exam.
        with write_transaction():
            exam = db.get_or_404(Exam, exam_id)
            title = exam.title
            delete_exam(exam, by=current_user)
    except DomainError as refusal:
        flash(f"“{title}” was not deleted: {refusal}.", "error")
        return redirect(url_for("admin.exam", exam_id=exam_id))
    flash(f"Deleted “{title}”.", "success")
    return redirect(url_for("admin.exams"))
