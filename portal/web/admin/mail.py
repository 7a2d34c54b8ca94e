"""Email from the staff pages: "Email sign-in links to the N people who have not signed in"
on an import's page and a batch's page (portal.people.link_emails does the work; the worker
sends the messages after the commit)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user

from portal.core.database import write_transaction
from portal.core.refusals import DomainError
from portal.models import Batch, PeopleImport
from portal.people import link_emails
from portal.web.admin.actions import acted_on
from portal.web.admin.blueprint import bp


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
