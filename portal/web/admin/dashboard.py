"""The dashboard and every attempt (one attempt's page is portal.web.admin.attempt's)."""

import sqlalchemy as sa
from flask import render_template, request

from portal.attempts.dashboard import dashboard_figures
from portal.attempts.listing import (
    SORTS,
    VERIFIED_CHOICES,
    AttemptFilters,
    Cursor,
    Order,
    attempts_page,
    export_header,
    export_rows,
    local_input,
)
from portal.core.clock import to_local, utcnow, zone_name
from portal.core.csvfiles import csv_download
from portal.core.extensions import db
from portal.models import Batch, Exam, User
from portal.web.admin.blueprint import bp


@bp.get("/")
def dashboard():
    """Totals, per-exam analytics and what needs a staff member's attention."""
    return render_template("admin/attempts/dashboard.html", local_input=local_input, **dashboard_figures().as_context())


@bp.get("/attempts/")
def attempts():
    """Every attempt, filtered, sorted and paged by keyset (see portal.attempts.listing).

    400 (BadInput) for a filter, order or page link that is not one the page makes.
    """
    filters, order = AttemptFilters.from_args(request.args), Order.from_args(request.args)
    cursor = request.args.get("cursor", "").strip()
    page = attempts_page(filters, order, Cursor.decode(cursor, order) if cursor else None)
    return render_template(
        "admin/attempts/attempts.html", page=page, filters=filters, order=order, sorts=SORTS,
        student=db.session.get(User, filters.student_id) if filters.student_id else None,
        verified_choices=VERIFIED_CHOICES, local_input=local_input, zone=zone_name(),
        exams=db.session.execute(sa.select(Exam.id, Exam.title).order_by(Exam.title, Exam.id)).all(),
        batches=db.session.execute(sa.select(Batch.id, Batch.name).order_by(Batch.name)).all(),
    )


@bp.get("/attempts/export.csv")
def export_attempts():
    """The attempts the table's filters select, in its order, as a streamed CSV download.

    400 (BadInput) for a filter or order the table would refuse.
    """
    filters, order = AttemptFilters.from_args(request.args), Order.from_args(request.args)
    # Named by the institute's day, as every time in it is.
    return csv_download(f"attempts-{to_local(utcnow()):%Y-%m-%d}.csv", export_header(), export_rows(filters, order))
