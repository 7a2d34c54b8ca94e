"""Batches: the list with its counts, creating, renaming and archiving one, and its members.
Each change is one service of portal.people.batches, which writes its audit entry; the view
commits it with the change, in one transaction."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Batch, User
from portal.people.batches import (
    add_members_by_email,
    batch_rows,
    create_batch,
    members_query,
    remove_member,
    rename_batch,
    set_archived,
)
from portal.web.admin.actions import acted_on, require_button, wanted_state
from portal.web.admin.blueprint import bp
from portal.web.forms import ActionForm, AddMembersForm, BatchForm
from portal.web.pagination import paginate

MEMBERS_PER_PAGE = 50
# How many unknown emails the message lists by name; the rest are counted.
UNKNOWN_SHOWN = 20


@bp.get("/batches/")
def batches():
    """Every batch with its member and exam counts, and a form to create one."""
    return render_template("admin/batches/batches.html", rows=batch_rows(), form=BatchForm(), action=ActionForm())


@bp.post("/batches/new")
def add_batch():
    """Create a batch; the list again (422) with the error on a bad or taken name."""
    form = BatchForm()
    if form.validate_on_submit():
        try:
            with write_transaction():  # owns the name's check to the commit: a second press finds it taken
                batch = create_batch(form.name.data, by=current_user)
        except DomainError as error:
            form.name.errors.append(str(error))
        else:
            flash(f"Created batch “{batch.name}”.", "success")
            return redirect(url_for("admin.batch", batch_id=batch.id))
    return render_template("admin/batches/batches.html", rows=batch_rows(), form=form, action=ActionForm()), 422


def render_batch(batch: Batch, *, rename: BatchForm | None = None, members: AddMembersForm | None = None,
                 status: int = 200):
    page = paginate(members_query(batch), MEMBERS_PER_PAGE)
    return render_template("admin/batches/batch.html", batch=batch, page=page,
                           rename=rename or BatchForm(name=batch.name), members=members or AddMembersForm(),
                           action=ActionForm()), status


@bp.get("/batches/<int:batch_id>")
def batch(batch_id: int):
    """One batch: its members (paginated), renaming, archiving, adding and removing members.
    404 for an unknown batch."""
    return render_batch(db.get_or_404(Batch, batch_id))


@bp.post("/batches/<int:batch_id>/rename", endpoint="rename_batch")
def rename_a_batch(batch_id: int):
    """Rename a batch; its page again (422) with the error on a bad or taken name."""
    db.get_or_404(Batch, batch_id)
    form = BatchForm()
    if form.validate_on_submit():
        try:
            with write_transaction():  # owns the name's check to the commit
                batch = rename_batch(db.get_or_404(Batch, batch_id), form.name.data, by=current_user)
        except DomainError as error:
            form.name.errors.append(str(error))
        else:
            flash(f"The batch is called “{batch.name}”.", "success")
            return redirect(url_for("admin.batch", batch_id=batch.id))
    db.session.rollback()
    return render_batch(db.get_or_404(Batch, batch_id), rename=form, status=422)


@bp.post("/batches/<int:batch_id>/archive")
def archive_batch(batch_id: int):
    """Archive (archived=1) a batch (hidden from the exam form's choices, members kept) or
    unarchive it (archived=0). 400 without a CSRF token or archived=0 or 1. The form says the
    state wanted: a second press, a resent POST or a stale tab changes nothing."""
    acted_on(Batch, batch_id)
    archived = wanted_state("archived")
    with write_transaction():  # owns the state read to the commit: a second press finds it done
        batch = db.get_or_404(Batch, batch_id)
        if (batch.archived_at is not None) == archived:
            flash(f"“{batch.name}” is already {'archived' if archived else 'in use'}.", "success")
            return redirect(url_for("admin.batch", batch_id=batch.id))
        set_archived(batch, archived, by=current_user)
    flash(f"“{batch.name}” is {'archived' if archived else 'back in use'}.", "success")
    return redirect(url_for("admin.batch", batch_id=batch.id))


@bp.post("/batches/<int:batch_id>/members")
def add_members(batch_id: int):
    """Add the people whose emails are pasted (portal.people.batches.pasted_emails); unknown emails are listed back
    (nothing done for them), the rest are added."""
    batch = db.get_or_404(Batch, batch_id)
    form = AddMembersForm()
    if not form.validate_on_submit():
        return render_batch(batch, members=form, status=422)
    try:
        with write_transaction():  # owns who is in the batch to the commit: a second press finds them in it
            batch = db.get_or_404(Batch, batch_id)
            outcome = add_members_by_email(batch, form.emails.data, by=current_user)
    except DomainError as error:
        form.emails.errors.append(str(error))
        return render_batch(db.get_or_404(Batch, batch_id), members=form, status=422)
    current_app.logger.info("batches: %s added to batch %s, %s already in it, %s unknown",
                            len(outcome.added), batch.id, len(outcome.already), len(outcome.unknown))
    flash(f"Added {len(outcome.added)} {'person' if len(outcome.added) == 1 else 'people'} to “{batch.name}”"
          + (f"; {len(outcome.already)} already in it" if outcome.already else "") + ".", "success")
    if outcome.unknown:
        shown = ", ".join(outcome.unknown[:UNKNOWN_SHOWN])
        more = len(outcome.unknown) - UNKNOWN_SHOWN
        flash(f"Nobody has {'this email' if len(outcome.unknown) == 1 else 'these emails'}, so "
              f"{'it was' if len(outcome.unknown) == 1 else 'they were'} not added: {shown}"
              + (f" and {more} more" if more > 0 else "") + ". Add the people first, then paste them again.",
              "error")
    return redirect(url_for("admin.batch", batch_id=batch.id))


@bp.post("/batches/<int:batch_id>/members/<int:user_id>/remove")
def remove_from_batch(batch_id: int, user_id: int):
    """Take one person out of the batch. 404 for an unknown batch or person."""
    require_button()
    with write_transaction():  # owns the membership read to the commit: a second press finds it gone
        batch = db.get_or_404(Batch, batch_id)
        person = db.get_or_404(User, user_id)
        removed = remove_member(batch, person, by=current_user)
    if removed:
        flash(f"Removed {person.email} from “{batch.name}”.", "success")
    else:
        flash(f"{person.email} was not in “{batch.name}”.", "success")
    return redirect(url_for("admin.batch", batch_id=batch.id))
