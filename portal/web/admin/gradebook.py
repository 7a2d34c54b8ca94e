"""Results: the gradebook (students x exams) and each exam's report, with their CSV exports."""

from flask import render_template, url_for

from portal.attempts import gradebook as results
from portal.core.csvfiles import csv_download
from portal.core.extensions import db
from portal.models import Batch, Exam
from portal.web.admin.blueprint import bp
from portal.web.charts import histogram_svg, timeline_svg
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
    found = results.cells([student.id for student in page.items], [exam.id for exam in exams])
    return render_template("admin/attempts/gradebook.html", batch=batch, exams=exams, sort_exam=sort_exam, page=page,
                           cells=found, batches=results.batch_choices(),
                           # "/admin/attempts/<id>" is this and an id: a url_for per cell was a third of the page.
                           attempts_url=url_for("admin.attempts"), cell_html=results.cell_html)


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


def _file_name(name: str) -> str:
    """A download's name in plain ASCII letters, digits and dashes (a batch or exam title may hold anything)."""
    stem, _, extension = name.rpartition(".")
    safe = "".join(c if c.isascii() and c.isalnum() else "-" for c in stem).strip("-")
    return f"{'-'.join(part for part in safe.split('-') if part) or 'export'}.{extension}"
