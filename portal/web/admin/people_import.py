"""Importing people from a CSV file: upload, preview, confirm (portal.people.importing does the work).

The upload waits between its preview and its confirmation as a PeopleImport row (a page
may be reloaded, and the preview of 10,000 rows is itself a page). The one-time password
links are secrets shown once: the confirmation's own response is the page saying what was
written, carrying their CSV as its download (a data: URL, made from the tokens the
confirmation has just issued, which the database keeps only hashed). No page shows them
again; staff make a new link from a person's page if the file is lost.
"""

import json
from urllib.parse import quote

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from portal.core.csvfiles import csv_download, csv_lines, read_table
from portal.core.extensions import db
from portal.models import AuditEntry, PeopleImport
from portal.people import importing as people_import
from portal.people.password_links import link_url
from portal.web.admin.actions import acted_on
from portal.web.admin.blueprint import bp
from portal.web.errors import error_response
from portal.web.forms import ActionForm


class ImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")],
                     description="Columns email, name, and optionally password and batch, with a header row; "
                                 "UTF-8 (in Excel: “CSV UTF-8”).")


@bp.route("/people/import", methods=["GET", "POST"])
def import_people():
    """The upload form; a POSTed file is kept and its preview shown (303). 422 with the
    reason on the form for a file that is not a CSV of the import's columns, or not UTF-8;
    413 for a file over IMPORT_MAX_BYTES."""
    form = ImportForm()
    if request.method == "GET" and people_import.delete_expired():
        db.session.commit()  # uploads left a day: their text may hold passwords
    if form.validate_on_submit():
        upload = form.file.data
        try:
            pending = people_import.start_import(upload.read(), upload.filename or "", by=current_user)
        except people_import.ImportRefused as refused:
            current_app.logger.info("people import: upload refused: %s", refused)
            form.file.errors.append(str(refused))
        else:
            db.session.commit()
            return redirect(url_for("admin.import_preview", import_id=pending.id), 303)
    return render_template("admin/people/import.html", form=form), 422 if form.errors else 200


@bp.errorhandler(413)
def upload_too_large(error):
    """The upload's 413 names the limit; any other staff page's 413 is the usual one."""
    if request.endpoint != "admin.import_people":
        return error_response(413)
    limit = current_app.config["IMPORT_MAX_BYTES"]
    current_app.logger.info("people import: upload over %s bytes refused", limit)
    return error_response(413, f"The file is larger than the {limit / 1024 / 1024:g} MB an import takes. "
                               "Split it into smaller files and import each.")


@bp.get("/people/import/<int:import_id>")
def import_preview(import_id: int):
    """A waiting import's preview (its counts, and the first rows with a problem and the first
    good rows; nothing written), or a confirmed one's summary. 404 for an unknown import, 410 for one expired."""
    found = db.get_or_404(PeopleImport, import_id)
    if found.status == "confirmed":
        return render_done(found)
    if people_import.is_expired(found):
        return gone()
    return render_preview(found)


def render_done(found: PeopleImport, *, links: list[list[str]] | None = None):
    """A confirmed import's summary (its counts as its audit entry recorded them); the
    confirmation's own response adds the links' download."""
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "people.import", AuditEntry.target_type == "import", AuditEntry.target_id == found.id))
    written = json.loads(entry.after) if entry is not None and entry.after else {}
    left = read_table(found.leftover_csv).rows if found.leftover_csv else []
    links_href = None
    if links:
        text = "\ufeff" + "".join(csv_lines(["email", "name", "link"], links))
        links_href = "data:text/csv;charset=utf-8," + quote(text, safe="")
    return render_template("admin/people/import_done.html", people_import=found, left_count=len(left),
                           left=[cells for _line, cells in left[:SHOWN_ROWS]], written=written,
                           links_count=len(links or []), links_href=links_href,
                           links_filename=f"people-import-{found.id}-links.csv")


# A preview shows this many rows of each kind, and offers this many new batches: a file of
# 500,000 bad rows would otherwise be a page of hundreds of megabytes. The download holds them all.
SHOWN_ROWS = 200
OFFERED_BATCHES = 50


def render_preview(found: PeopleImport, *, message: str | None = None, status: int = 200):
    try:
        checked = people_import.preview(found.csv_text)
    except people_import.ImportRefused as refused:  # the rules changed since the upload
        checked, message = None, str(refused)
    return render_template("admin/people/import_preview.html", people_import=found, preview=checked,
                           problem_rows=checked.problem_rows if checked else [],
                           good_rows=checked.good_rows if checked else [],
                           shown_rows=SHOWN_ROWS, offered_batches=OFFERED_BATCHES,
                           message=message, action=ActionForm(),
                           max_passwords=current_app.config["IMPORT_MAX_PASSWORDS"]), status


def gone():
    return render_template("admin/people/import.html", form=ImportForm(formdata=None), expired=True), 410


@bp.post("/people/import/<int:import_id>/confirm")
def confirm_import(import_id: int):
    """Write every good row in one transaction. The response is the import's summary: with
    the CSV of one-time links as its download when some people came without a password
    (the only time they are offered), a 303 to it otherwise.

    400 without a CSRF token, 404 unknown, 410 expired; an import confirmed already goes to
    its summary; 409 with the preview again when someone added one of its emails meanwhile
    (nothing written), 422 for a file refused whole.
    """
    found = acted_on(PeopleImport, import_id)
    if people_import.is_expired(found):
        return gone()
    try:
        outcome = people_import.confirm(found, by=current_user, new_batches=request.form.getlist("new_batch"))
    except people_import.ImportGone:
        flash("This import was confirmed already.", "error")
        return redirect(url_for("admin.import_preview", import_id=import_id), 303)
    except people_import.ImportRaced:
        current_app.logger.info("people import %s: an email was taken during the confirmation", import_id)
        return render_preview(found, status=409, message=(
            "Someone added one of these people while the import ran, so nothing was written. "
            "The preview below shows the file as it stands now: confirm again."))
    except people_import.ImportRefused as refused:
        return render_preview(found, status=422, message=str(refused))
    links = [[email, name, link_url(token)] for email, name, token in outcome.links]
    db.session.commit()
    current_app.logger.info("people import %s: %s people written, %s links", import_id, outcome.created, len(links))
    if links:
        return render_done(found, links=links)
    flash(people_import.summary_line(found.filename, outcome.created, len(outcome.left), outcome.new_batches,
                                     len(links)) + ".", "success")
    return redirect(url_for("admin.import_preview", import_id=import_id), 303)


@bp.get("/people/import/<int:import_id>/problems.csv")
def import_problems(import_id: int):
    """The rows not imported (or, before the confirmation, those with a problem) as a CSV:
    the file's own columns and a "problem" column, to fix and upload again. 404 unknown, 410 expired."""
    found = db.get_or_404(PeopleImport, import_id)
    filename = f"people-import-{import_id}-problems.csv"
    if found.status == "confirmed":
        # Kept as CSV text already made safe (and without passwords) by the confirmation.
        response = current_app.response_class("\ufeff" + (found.leftover_csv or "email,name,problem\r\n"),
                                              mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    if people_import.is_expired(found):
        return gone()
    try:
        checked = people_import.preview(found.csv_text)
    except people_import.ImportRefused as refused:
        return render_preview(found, status=422, message=str(refused))
    return csv_download(filename, checked.header + ["problem"], checked.problem_csv_rows())
