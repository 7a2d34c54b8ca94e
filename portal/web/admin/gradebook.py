"""Results: the gradebook (students x exams) and each exam's report, with their CSV exports."""

from flask import render_template, url_for
from markupsafe import Markup
from sqlalchemy import Row

from portal.attempts import gradebook as results
from portal.core.csvfiles import csv_download
from portal.core.extensions import db
from portal.models import Batch, Exam
from portal.results import claim
from portal.web.admin.blueprint import bp
from portal.web.charts import histogram_svg, timeline_svg
from portal.web.formatting import percent, staff_score
from portal.web.inputs import page_number, row_id
from portal.web.pagination import paginate


def _gradebook_view():
    """The gradebook's batch, sort and columns from the query string; 404 for an unknown batch."""
    batch_id = row_id("batch")
    batch = db.get_or_404(Batch, batch_id) if batch_id else None
    exams = results.gradebook_exams(batch_id)
    sort_exam = row_id("sort")
    if sort_exam not in {exam.id for exam in exams}:
        sort_exam = None  # a stale or edited link sorts by name rather than failing
    return batch, exams, sort_exam


@bp.get("/gradebook/")
def gradebook():
    """Students x exams: the counting attempt's score per cell, for a batch or everyone."""
    batch, exams, sort_exam = _gradebook_view()
    batch_id = batch.id if batch else None
    page = paginate(results.gradebook_students(batch_id, sort_exam), results.STUDENTS_PER_PAGE)
    student_ids, exam_ids = [student.id for student in page.items], [exam.id for exam in exams]
    found = results.cells(student_ids, exam_ids)
    return render_template("admin/attempts/gradebook.html", batch=batch, exams=exams, sort_exam=sort_exam, page=page,
                           cells=found, not_theirs=results.not_offered(student_ids, exam_ids),
                           batches=results.batch_choices(),
                           # "/admin/attempts/<id>" is this and an id: a url_for per cell was a third of the page.
                           attempts_url=url_for("admin.attempts"), cell_html=cell_html)


@bp.get("/gradebook.csv")
def gradebook_csv():
    """The gradebook as shown (batch, sort), every page of it."""
    batch, exams, sort_exam = _gradebook_view()
    rows = results.gradebook_csv_rows(batch.id if batch else None, sort_exam, exams)
    name = f"gradebook-{batch.name if batch else 'everyone'}.csv"
    return csv_download(_file_name(name), results.gradebook_csv_header(exams), rows)


@bp.get("/exams/<int:exam_id>/report")
def exam_report(exam_id: int):
    """One exam's results: figures, distribution, timeline, trust split and rank list."""
    exam = db.get_or_404(Exam, exam_id)
    figures = results.exam_report(exam)
    ranks = results.rank_page(exam, page_number(results.RANKS_PER_PAGE), figures.students)
    return render_template("admin/exams/exam_report.html", exam=exam, figures=figures, ranks=ranks,
                           histogram=histogram_svg(figures.bins), timeline=timeline_svg(figures.timeline))


@bp.get("/exams/<int:exam_id>/report.csv")
def exam_report_csv(exam_id: int):
    exam = db.get_or_404(Exam, exam_id)
    return csv_download(_file_name(f"{exam.title}-ranks.csv"), results.RANK_CSV_HEADER, results.rank_csv_rows(exam))


NOT_ATTEMPTED = Markup('<span class="muted cell-note">not attempted</span>')
NOT_THEIRS = Markup('<span class="muted cell-note">not for this student</span>')


def cell_html(cell: Row | None, attempts_url: str, theirs: bool = True) -> Markup:
    """One gradebook cell's markup. Written here rather than in the template: a page has up to
    2,500 cells, and the template's conditions and filters per cell were most of its time.
    Everything in it is a number or a fixed word, so nothing needs escaping. Without a
    standing, the cell says whether the exam was for the student at all (`theirs`)."""
    if cell is None:
        return NOT_ATTEMPTED if theirs else NOT_THEIRS
    tried = f'<small class="muted">{cell.attempts_used} tried</small>'
    pending = "" if cell.pending_attempt_id is None else (
        f'<br><a class="badge badge-unverified" href="{attempts_url}{cell.pending_attempt_id}">pending: claims '
        f'{claim(cell.pending_score, cell.pending_max_score, cell.pending_percentage)}</a>')
    if cell.score is None:
        return Markup(f'<span class="muted">no verified score</span>{pending}<br>{tried}')
    flagged = ' <span class="badge badge-flagged">flagged</span>' if cell.flagged else ""
    return Markup(f'<a href="{attempts_url}{cell.attempt_id}">{staff_score(cell)}</a>{flagged}<br>'
                  f'<small class="muted">{percent(cell.percentage)} · {cell.attempts_used} tried</small>'
                  f'{pending}')


def _file_name(name: str) -> str:
    """A download's name in plain ASCII letters, digits and dashes (a batch or exam title may hold anything)."""
    stem, _, extension = name.rpartition(".")
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in stem).strip("-")
    return f"{'-'.join(part for part in safe.split('-') if part) or 'export'}.{extension}"
