"""The dashboard, every attempt, and one attempt's history."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for

from portal.admin import bp
from portal.attempt_list import (SORTS, VERIFIED_CHOICES, AttemptFilters, Cursor, Order, attempts_page,
                                  export_header, export_rows, local_input)
from portal.clock import zone_name
from portal.csvfiles import csv_download
from portal.dashboard import dashboard_figures
from portal.extensions import db
from portal.forms import ActionForm
from portal.models import Attempt, Batch, Exam, utcnow
from portal.testpress import sync
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings


@bp.route("/")
def dashboard():
    """Totals, per-exam analytics and what needs a staff member's attention."""
    return render_template("admin/dashboard.html", local_input=local_input, **dashboard_figures().as_context())


@bp.route("/attempts/")
def attempts():
    """Every attempt, filtered, sorted and paged by keyset (see portal.attempt_list).

    400 (BadInput) for a filter, order or page link that is not one the page makes.
    """
    filters, order = AttemptFilters.from_args(request.args), Order.from_args(request.args)
    cursor = request.args.get("cursor", "").strip()
    page = attempts_page(filters, order, Cursor.decode(cursor, order) if cursor else None)
    return render_template(
        "admin/attempts.html", page=page, filters=filters, order=order, sorts=SORTS,
        verified_choices=VERIFIED_CHOICES, local_input=local_input, zone=zone_name(),
        exams=db.session.execute(sa.select(Exam.id, Exam.title).order_by(Exam.title, Exam.id)).all(),
        batches=db.session.execute(sa.select(Batch.id, Batch.name).order_by(Batch.name)).all(),
    )


@bp.route("/attempts/export.csv")
def export_attempts():
    """The attempts the table's filters select, in its order, as a streamed CSV download.

    400 (BadInput) for a filter or order the table would refuse.
    """
    filters, order = AttemptFilters.from_args(request.args), Order.from_args(request.args)
    return csv_download(f"attempts-{utcnow():%Y-%m-%d}.csv", export_header(), export_rows(filters, order))


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
