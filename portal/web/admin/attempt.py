"""One attempt's page and what staff do there to decide which score to trust: resolve its
flag (accept the signed score, or dismiss with a note), ask Testpress's Admin API now, open
the Testpress review."""

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal.attempts.flags import can_accept, resolve_flag
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Attempt, AuditEntry
from portal.testpress import sync
from portal.testpress.client import TestpressBusy, TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings
from portal.vocabulary import FlagResolution
from portal.web.admin.actions import acted_on
from portal.web.admin.blueprint import bp
from portal.web.errors import in_words
from portal.web.forms import ActionForm, FlagNoteForm

# Each decision's form on the page has its own field names and ids ("accept-note").
FORM_PREFIXES = {FlagResolution.ACCEPTED: "accept", FlagResolution.DISMISSED: "dismiss"}
# The attempt's staff decisions shown in its history; an attempt has a handful at most.
DECISIONS_SHOWN = 50


def _attempt_page(attempt: Attempt, *, status: int = 200, accept_form=None, dismiss_form=None):
    decisions = db.session.scalars(
        sa.select(AuditEntry).options(joinedload(AuditEntry.actor))
        .where(AuditEntry.target_type == "attempt", AuditEntry.target_id == attempt.id)
        .order_by(AuditEntry.id.desc()).limit(DECISIONS_SHOWN)).all()
    accept_form = accept_form or FlagNoteForm(formdata=None, prefix=FORM_PREFIXES[FlagResolution.ACCEPTED])
    dismiss_form = dismiss_form or FlagNoteForm(formdata=None, prefix=FORM_PREFIXES[FlagResolution.DISMISSED])
    accept_form.note.label.text, dismiss_form.note.label.text = "Note (optional)", "Note (required)"
    return render_template(
        "admin/attempts/attempt.html", attempt=attempt, action=ActionForm(), decisions=decisions,
        accept_form=accept_form, dismiss_form=dismiss_form,
        can_accept=can_accept(attempt), FlagResolution=FlagResolution,
    ), status


@bp.get("/attempts/<int:attempt_id>")
def attempt(attempt_id: int):
    """One attempt with every report each source made of it and every staff decision on it. 404 if unknown."""
    return _attempt_page(db.get_or_404(Attempt, attempt_id))


@bp.post("/attempts/<int:attempt_id>/flag/<any(accepted, dismissed):resolution>")
def resolve_attempt_flag(attempt_id: int, resolution: str):
    """Resolve the attempt's flag: accept the signed score, or dismiss it with a note.

    400 without a valid CSRF token, 404 for an unknown attempt, 422 (the page, saying why)
    for a missing or over-long note or an attempt no longer flagged or without a signed
    score to accept, 503 when the database stays busy; otherwise a redirect to the attempt.
    """
    form = FlagNoteForm(prefix=FORM_PREFIXES[FlagResolution(resolution)])
    form.validate_on_submit()
    if "csrf_token" in form.errors:
        abort(400)
    attempt = db.get_or_404(Attempt, attempt_id)
    forms = {"accept_form" if resolution == FlagResolution.ACCEPTED else "dismiss_form": form}
    if form.errors:
        current_app.logger.info("flag of attempt %s: refused %s (%s)", attempt_id, resolution, form.errors)
        return _attempt_page(attempt, status=422, **forms)
    try:
        with write_transaction():
            attempt = db.session.get(Attempt, attempt_id)  # read again, under the lock
            resolve_flag(attempt, current_user, resolution, form.note.data or "")
    except DomainError as error:
        current_app.logger.info("flag of attempt %s: refused %s (%s)", attempt_id, resolution, error)
        db.session.rollback()
        attempt = db.session.get(Attempt, attempt_id)
        if error.field:
            form[error.field].errors = [*form[error.field].errors, str(error)]
        else:
            flash(str(error), "error")
        return _attempt_page(attempt, status=422, **forms)
    flash(f"Flag resolved: {FlagResolution(resolution).label.lower()}.", "success")
    return redirect(url_for("admin.attempt", attempt_id=attempt_id))


@bp.post("/attempts/<int:attempt_id>/confirm")
def confirm_attempt(attempt_id: int):
    """Ask Testpress's Admin API for the truth of one attempt now, and record its answer (a
    changed result is in the audit log, as the staff member's action).

    400 without a valid CSRF token, 404 for an unknown attempt; Testpress's own failures are
    a message on the attempt's page. Testpress is asked once, for a few seconds at most
    (TestpressClient.interactive): the request must answer inside gunicorn's timeout.
    """
    attempt = acted_on(Attempt, attempt_id)
    if attempt.exam.testpress_id is None:
        flash("This exam has no Testpress id yet, so Testpress cannot be asked about its attempts: "
              "set it on the exam's page, or run a sync, which maps exams by their URL.", "error")
    else:
        try:
            client = TestpressClient.interactive(testpress_settings())
            found = sync.confirm_attempt(client, attempt.id, started_by=current_user)
        except TestpressBusy as busy:
            current_app.logger.info("confirm attempt %s: %s", attempt_id, busy)
            wait = f"in {in_words(busy.retry_after)}" if busy.retry_after else "in a minute"
            flash(f"Testpress is busy: nothing was changed. Please try again {wait}.", "error")
        except TestpressError as error:
            current_app.logger.warning("confirm attempt %s: %s", attempt_id, error)
            flash(f"Could not reach Testpress, so nothing was changed: {error}", "error")
        else:
            flash("Recorded what Testpress's Admin API says of this attempt." if found
                  else "Testpress's Admin API has no record of this attempt (asked by its student and exam).",
                  "success" if found else "error")
    return redirect(url_for("admin.attempt", attempt_id=attempt_id))
