"""Email and the worker from the staff pages: the worker's jobs on the dashboard; the outbox
(queued, sent, failed with the server's answer, retried; filters and a retry button); and
"Email sign-in links to the N people who have not signed in" on an import's page and a
batch's page (portal.people.link_emails does the work; the worker sends the messages after
the commit)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.clock import utcnow
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.mail import outbox as mail_outbox
from portal.models import Batch, OutboxMessage, PeopleImport
from portal.people import link_emails
from portal.vocabulary import MailKind, MailStatus
from portal.web.admin.actions import acted_on
from portal.web.admin.blueprint import bp
from portal.web.forms import ActionForm
from portal.web.inputs import BadInput, row_id

MESSAGES_PER_PAGE = 50


def _choice(name: str, words) -> str:
    value = request.args.get(name, "")
    if value and value not in [str(word) for word in words]:
        raise BadInput(f"“{name}” must be one of {', '.join(str(word) for word in words)}.")
    return value


@bp.get("/mail/")
def outbox():
    """The outbox, newest first, by status, kind, retried and recipient; pages of
    MESSAGES_PER_PAGE by id (`before`). 400 for a filter that is not one."""
    status, kind = _choice("status", MailStatus), _choice("kind", MailKind)
    retried = _choice("retried", ["1"])
    address, before = request.args.get("to", "").strip()[:254], row_id("before")
    query = sa.select(OutboxMessage)
    if status:
        query = query.where(OutboxMessage.status == status)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if retried:
        query = query.where(OutboxMessage.tries > 1)
    if address:
        query = query.where(OutboxMessage.to_address.contains(address, autoescape=True))
    if before:
        query = query.where(OutboxMessage.id < before)
    rows = db.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(MESSAGES_PER_PAGE + 1)).all()
    filters = {"status": status, "kind": kind, "retried": retried, "to": address}
    older = rows[MESSAGES_PER_PAGE - 1].id if len(rows) > MESSAGES_PER_PAGE else None
    counts = {status: count for status, count in db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))}
    return render_template("admin/mail/outbox.html", messages=rows[:MESSAGES_PER_PAGE], filters=filters,
                           kept={name: value for name, value in filters.items() if value}, older=older,
                           paged=before is not None, counts=counts, statuses=MailStatus, kinds=MailKind,
                           mail_on=mail_outbox.mail_settings() is not None, now=utcnow(), action=ActionForm())


@bp.post("/mail/<int:message_id>/retry")
def retry_message(message_id: int):
    """Queue a failed message again now (303 to the outbox). 400 without CSRF, 404 unknown;
    a message not failed (retried by someone else meanwhile) is said, and left."""
    acted_on(OutboxMessage, message_id)
    with write_transaction():  # owns the status read to the commit: a second press finds it queued
        message = db.session.get(OutboxMessage, message_id)
        try:
            mail_outbox.retry(message, by=current_user)
        except DomainError as refused:
            flash(f"The email to {message.to_address}: {refused}.", "error")
        else:
            flash(f"The email to {message.to_address} will be sent again shortly.", "success")
    return redirect(url_for("admin.outbox"), 303)


@bp.app_template_global()
def worker_jobs():
    """For templates/admin/worker.html (the dashboard): the worker's jobs, as they stand."""
    from portal.jobs.status import worker_status

    return worker_status()


@bp.app_template_global()
def sign_in_offer(*, batch: Batch | None = None, people_import: PeopleImport | None = None) -> link_emails.Offer:
    """For templates/admin/mail/sign_in_links.html: whom the button would email, and what."""
    return link_emails.offer(link_emails.of_batch(batch) if batch is not None else link_emails.of_import(people_import))


def _email_links(people, what: str, back: str):
    try:
        with write_transaction():  # owns who has been emailed to the commit: a second press finds nobody left
            queued = link_emails.email_links(people, what=what, by=current_user)
    except DomainError as refused:
        flash(str(refused), "error")
    else:
        flash(f"Sign-in links for {queued:,} {'person' if queued == 1 else 'people'} are being emailed; "
              "the outbox shows each message.", "success")
    return redirect(back, 303)


@bp.post("/people/import/<int:import_id>/email-links")
def email_import_links(import_id: int):
    """Email new one-time links to the import's people who have not signed in (303 to the
    import's page, which says how many). 400 without CSRF, 404 unknown."""
    found = acted_on(PeopleImport, import_id)
    return _email_links(link_emails.of_import(found), f"the import of {found.filename or f'file {found.id}'}",
                        url_for("admin.import_preview", import_id=import_id))


@bp.post("/batches/<int:batch_id>/email-links")
def email_batch_links(batch_id: int):
    """Email new one-time links to the batch's members who have not signed in (303 to the
    batch). 400 without CSRF, 404 unknown."""
    found = acted_on(Batch, batch_id)
    return _email_links(link_emails.of_batch(found), f"the batch “{found.name}”",
                        url_for("admin.batch", batch_id=batch_id))
