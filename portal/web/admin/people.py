"""People: the list (search, filters, export), adding a person, and a page per person with
what staff do to an account: edit, (de)activate, batches, role, a one-time password link.

Each change is one service of portal.people (accounts, batches, password_links), which writes
its audit entry; the view commits it with the change, in one transaction.
"""

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal.core.clock import utcnow
from portal.core.csvfiles import csv_download
from portal.core.database import write_transaction
from portal.core.extensions import db
from portal.core.refusals import DomainError
from portal.models import Attempt, Batch, PasswordLink, User
from portal.people import password_links
from portal.people.accounts import (
    LastStaff,
    OwnAccount,
    OwnRole,
    PersonExists,
    create_person,
    deactivate,
    reactivate,
    set_staff,
    snapshot,
    update_person,
)
from portal.people.batches import add_person_to_batch, remove_person_from_batch
from portal.people.search import EXPORT_HEADER, ROLES, STATUSES, PeopleFilter, batch_choices, export_rows, find_people
from portal.web.admin.actions import acted_on, wanted_state
from portal.web.admin.blueprint import bp
from portal.web.forms import ActionForm, BatchChoiceForm, ChangedMeanwhile, PersonForm, StudentForm, require_unchanged
from portal.web.inputs import row_id

ATTEMPTS_ON_PERSON_PAGE = 50


@bp.get("/people/")
def people():
    """Students and staff in name order, 50 a page, found by name or email and filtered by
    role, status and batch. 400 for a filter value the form does not offer."""
    filters = PeopleFilter.from_args(request.args)
    page = find_people(filters, after=row_id("after"), before=row_id("before"))
    return render_template("admin/people/people.html", page=page, filters=filters, roles=ROLES, statuses=STATUSES,
                           batches=batch_choices())


@bp.get("/people/export.csv")
def export_people():
    """The people the list's current filters find, as a streamed, formula-safe CSV."""
    filters = PeopleFilter.from_args(request.args)
    current_app.logger.info("people: user %s exported people %s", current_user.id, filters.as_args() or "(all)")
    return csv_download("people.csv", EXPORT_HEADER, export_rows(filters))


@bp.route("/people/new", methods=["GET", "POST"])
def add_person():
    """Add a student or staff member, then their page; the form again (422) with errors on bad values."""
    form = StudentForm()
    if form.validate_on_submit():
        try:
            person = create_person(form.email.data, form.name.data, form.password.data, staff=form.is_staff.data,
                                   by=current_user)
        except DomainError as error:  # the database's word, when another request won a race
            form[error.field].errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Added {person.email}.", "success")
            return redirect(url_for("admin.person", user_id=person.id))
    return render_template("admin/people/person_new.html", form=form), 422 if form.errors else 200


@bp.get("/people/<int:user_id>")
def person(user_id: int):
    """One person: details, batches, latest attempts and the actions. 404 if unknown."""
    person = db.get_or_404(User, user_id)
    return render_person(person, PersonForm(person))


def render_person(person: User, edit_form: PersonForm) -> str:
    attempts = db.session.scalars(
        sa.select(Attempt).options(joinedload(Attempt.exam)).where(Attempt.student_id == person.id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc()).limit(ATTEMPTS_ON_PERSON_PAGE)).all()
    attempt_total = db.session.scalar(sa.select(sa.func.count(Attempt.id)).where(Attempt.student_id == person.id))
    open_links = db.session.scalar(sa.select(sa.func.count(PasswordLink.id)).where(
        PasswordLink.user_id == person.id, PasswordLink.used_at.is_(None), PasswordLink.expires_at > utcnow()))
    return render_template("admin/people/person.html", person=person, edit_form=edit_form,
                           batch_form=batch_form_for(person), action=ActionForm(),
                           attempts=attempts, attempt_total=attempt_total, open_links=open_links)


def batch_form_for(person: User) -> BatchChoiceForm:
    """The batch picker: the unarchived batches the person is not in yet."""
    form = BatchChoiceForm()
    member_of = {batch.id for batch in person.batches}
    form.batch.choices = [(batch.id, batch.name) for batch in db.session.scalars(
        sa.select(Batch).where(Batch.archived_at.is_(None)).order_by(Batch.name)) if batch.id not in member_of]
    return form


@bp.post("/people/<int:user_id>/edit")
def edit_person(user_id: int):
    """Change a person's name and email. 404 if unknown; their page again with the error at
    its field for a bad value or an email someone else has (422), or with the staff member's
    values kept when someone changed the person since the page was opened (409)."""
    db.get_or_404(User, user_id)
    form = PersonForm()
    status = 422
    if form.validate_on_submit():
        try:
            with write_transaction():  # owns the person from the comparison below to the commit
                person = db.get_or_404(User, user_id)
                require_unchanged(form, snapshot(person))
                _before, after = update_person(person, name=form.name.data, email=form.email.data, by=current_user)
        except ChangedMeanwhile:
            status = 409
            form.form_errors.append(
                "Someone changed this person's name or email after you opened this page, so nothing was "
                "saved: saving your version would undo theirs. Theirs is shown above; save again to replace it.")
        except DomainError as error:
            form[error.field].errors.append(
                "Someone else already has this email." if isinstance(error, PersonExists) else str(error))
        else:
            flash("Saved." if after else "Nothing changed.", "success")
            return redirect(url_for("admin.person", user_id=user_id))
    current_app.logger.info("people: edit of person %s refused (%s): %s", user_id, status, form.errors)
    person = db.session.get(User, user_id)  # as stored, not as typed
    return render_person(person, form), status


@bp.post("/people/<int:user_id>/active")
def toggle_active(user_id: int):
    """Deactivate (active=0) or reactivate (active=1) an account. 400 without a CSRF token or
    without active=0 or 1, 404 for an unknown person; staff cannot deactivate themselves (a
    message on the person's page). The form says the state wanted, not "the other one": a
    second press, a resent POST or a stale tab changes nothing."""
    acted_on(User, user_id)
    active = wanted_state("active")
    try:
        with write_transaction():  # owns the count of active staff from the check to the commit
            person = db.get_or_404(User, user_id)
            if person.active == active:
                flash(f"{person.email} is already {'active' if active else 'deactivated'}.", "success")
                return redirect(url_for("admin.person", user_id=person.id))
            if active:
                reactivate(person, by=current_user)
            else:
                deactivate(person, by=current_user)
    except (OwnAccount, LastStaff) as refusal:
        current_app.logger.info("people: (de)activation of person %s refused: %s", user_id, refusal)
        flash(str(refusal), "error")
    else:
        flash(f"{person.email} is now {'active' if active else 'deactivated'}.", "success")
    return redirect(url_for("admin.person", user_id=user_id))


@bp.post("/people/<int:user_id>/batches")
def add_to_batch(user_id: int):
    """Put the person in an unarchived batch. 400 for no CSRF token or a batch not offered."""
    person = db.get_or_404(User, user_id)
    form = batch_form_for(person)
    if not form.validate_on_submit():
        current_app.logger.info("people: batch for person %s refused: %s", user_id, form.errors)
        abort(400)
    with write_transaction():  # owns the membership read to the commit: a second press finds it done
        person, batch = db.get_or_404(User, user_id), db.get_or_404(Batch, form.batch.data)
        added = add_person_to_batch(person, batch, by=current_user)
    flash(f"Added to {batch.name}." if added else f"Already in {batch.name}.", "success")
    return redirect(url_for("admin.person", user_id=person.id))


@bp.post("/people/<int:user_id>/batches/<int:batch_id>/remove")
def leave_batch(user_id: int, batch_id: int):
    """Take the person out of a batch (archived ones too). 404 for an unknown person or batch."""
    acted_on(User, user_id)
    with write_transaction():  # owns the membership read to the commit: a second press finds it done
        person, batch = db.get_or_404(User, user_id), db.get_or_404(Batch, batch_id)
        removed = remove_person_from_batch(person, batch, by=current_user)
    flash(f"Removed from {batch.name}." if removed else f"Not in {batch.name}.", "success")
    return redirect(url_for("admin.person", user_id=person.id))


@bp.route("/people/<int:user_id>/role", methods=["GET", "POST"])
def change_role(user_id: int):
    """Make a student staff, or a staff member a student: a confirmation page, then the POST
    (with `staff` 1 or 0). Staff cannot make themselves students (said on the page)."""
    if request.method == "GET":
        person = db.get_or_404(User, user_id)
        return render_template("admin/people/person_role.html", person=person, form=ActionForm(),
                               own_account=person.id == current_user.id)
    acted_on(User, user_id)
    staff = wanted_state("staff")
    try:
        with write_transaction():  # owns the count of active staff from the check to the commit
            person = db.get_or_404(User, user_id)
            if person.is_staff == staff:
                flash(f"{person.email} is already {'staff' if staff else 'a student'}.", "info")
                return redirect(url_for("admin.person", user_id=person.id))
            set_staff(person, staff, by=current_user)
    except (OwnRole, LastStaff) as refusal:
        current_app.logger.info("people: role change of person %s refused: %s", user_id, refusal)
        flash(str(refusal), "error")
    else:
        flash(f"{person.email} is now {'staff' if staff else 'a student'}.", "success")
    return redirect(url_for("admin.person", user_id=user_id))


@bp.post("/people/<int:user_id>/password-link")
def issue_password_link(user_id: int):
    """A new one-time password link for the person, shown on this response only (the
    database keeps its hash, so no page can show it again). 404 if unknown."""
    person = acted_on(User, user_id)
    if not person.active:
        flash("Reactivate this account first: a deactivated person's link would not work.", "error")
        return redirect(url_for("admin.person", user_id=person.id))
    token = password_links.issue_link(person, by=current_user)
    db.session.commit()
    current_app.logger.info("people: user %s issued a password link for person %s", current_user.id, person.id)
    return render_template("admin/people/password_link.html", person=person,
                           link=password_links.link_url(token),
                           hours=int(password_links.LINK_LIFETIME.total_seconds() // 3600))

