"""People: the list, adding a person, and (de)activating an account."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.admin import bp
from portal.extensions import db
from portal.forms import ActionForm, StudentForm
from portal.models import Attempt, User
from portal.people import OwnAccount, PersonError, create_person, deactivate, reactivate


@bp.route("/people/")
def people():
    """Students and staff with their attempt counts, and a form to add a person."""
    return render_people(StudentForm())


@bp.route("/people/new", methods=["POST"])
def add_person():
    """Add a student or staff member; the list again (422) with errors on bad values."""
    form = StudentForm()
    if form.validate_on_submit():
        try:
            person = create_person(form.email.data, form.name.data, form.password.data, staff=form.is_staff.data)
        except PersonError as error:  # the database's word, when another request won a race
            form[error.field].errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Added {person.email}.", "success")
            return redirect(url_for("admin.people"))
    return render_people(form), 422


def render_people(form: StudentForm) -> str:
    rows = db.session.execute(
        sa.select(User, sa.func.count(Attempt.id)).outerjoin(Attempt).group_by(User.id)
        .order_by(User.is_staff.desc(), User.name)
    ).all()
    return render_template("admin/people.html", rows=rows, form=form, action=ActionForm())


@bp.route("/people/<int:user_id>/active", methods=["POST"])
def toggle_active(user_id: int):
    """Deactivate or reactivate an account. 400 without a CSRF token, 404 for an unknown
    person; staff cannot deactivate themselves (a message on the list)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    person = db.get_or_404(User, user_id)
    try:
        if person.active:
            deactivate(person, by=current_user)
        else:
            reactivate(person)
    except OwnAccount as refusal:
        flash(str(refusal), "error")
    else:
        db.session.commit()
        flash(f"{person.email} is now {'active' if person.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.people"))
