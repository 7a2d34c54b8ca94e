"""Every form of the portal, as Flask-WTF classes (each carries a CSRF token)."""

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.audit import fingerprint
from portal.core.clock import TimeOutOfRange, from_local, to_local, zone_name
from portal.core.database import LARGEST_ID, whole_number
from portal.core.extensions import db
from portal.exams import rules as exams
from portal.models import Batch, Exam
from portal.people import accounts as people
from portal.people import batches
from portal.vocabulary import CountingRule


class ChangedMeanwhile(Exception):
    """What an edit form showed was changed by someone else after it was opened."""


def require_unchanged(form: FlaskForm, values) -> None:
    """Raise ChangedMeanwhile when `values` (as stored now) are not those `form.shown` was made
    of, after setting it to them: saving the form again then replaces the change, knowingly.
    A form without `shown` (from a script, not the page) is not checked."""
    now = fingerprint(values)
    if form.shown.data and form.shown.data != now:
        form.shown.data = now
        raise ChangedMeanwhile


class Form(FlaskForm):
    """A Flask-WTF form whose CSRF token has no id: a page with many buttons that post (the
    exam cards, a person's page) carries one token a form, and ids must stay unique (#25)."""

    class Meta:
        def render_field(self, field, render_kw):
            if field.type == "CSRFTokenField":
                render_kw = {**render_kw, "id": False}  # WTForms leaves out an attribute that is False
            return super().render_field(field, render_kw)


class IdField(IntegerField):
    """A positive id for a 64-bit column, in ASCII digits only.

    IntegerField uses int(), which takes "5_5" as 55 and lets 2**63 reach the database
    driver (OverflowError, a 500); the one rule for request integers lives in portal.web.inputs.
    """

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = whole_number(valuelist[0].strip())
        if self.data is None:
            # Empty is not an error here when the field has Optional(), which clears this.
            raise ValueError(f"Enter a whole number from 1 to {LARGEST_ID}, in digits only.")


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me logged in on this device")
    submit = SubmitField("Log in")


class ActionForm(Form):
    """A form with nothing but its CSRF token, for buttons that POST (start, deactivate…)."""


class BoundedIntegerField(IntegerField):
    """A whole number in [minimum, maximum], in ASCII digits (see IdField); blank is None with Optional()."""

    def __init__(self, label=None, validators=None, *, minimum: int = 1, maximum: int = LARGEST_ID, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.minimum, self.maximum = minimum, maximum

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        self.data = whole_number(valuelist[0].strip(), minimum=self.minimum, maximum=self.maximum)
        if self.data is None:
            raise ValueError(f"Enter a whole number from {self.minimum} to {self.maximum}, in digits only.")


LOCAL_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class ExamForm(Form):
    """An exam to add (no `exam`) or to edit; the rules are portal.exams.rules', shown at their fields.

    Times are typed, and shown back, in the institute's zone (portal.core.clock), which their
    labels name; `exam_fields` answers them in UTC, as they are stored. Publishing is not
    here: it is the exams list's button (a new exam is a draft).
    """

    title = StringField("Title", validators=[DataRequired(), Length(max=exams.MAX_TITLE_LENGTH)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=exams.MAX_DESCRIPTION_LENGTH)])
    instructions = TextAreaField(
        "Instructions", validators=[Optional(), Length(max=exams.MAX_INSTRUCTIONS_LENGTH)],
        description="Shown to the student on the exam's card, above its Start button.",
    )
    exam_url = URLField(
        "Testpress exam URL",
        description="Copied from the exam list of your Testpress dashboard.",
        validators=[DataRequired()],
    )
    testpress_id = IdField(
        "Testpress exam id", validators=[Optional()],
        description="Lets webhooks and the Admin API find this exam.",
    )
    # The browser's datetime-local form first: it shows no value written in another
    # (WTForms' default first format has a space and seconds, so an edit showed blank times).
    opens_at = DateTimeLocalField("Opens at", validators=[Optional()], format=LOCAL_TIME_FORMATS)
    closes_at = DateTimeLocalField("Closes at", validators=[Optional()], format=LOCAL_TIME_FORMATS)
    attempts_allowed = BoundedIntegerField(
        "Attempts allowed per student", validators=[Optional()], maximum=exams.MAX_ATTEMPTS_ALLOWED,
        description=f"Blank for unlimited, or 1 to {exams.MAX_ATTEMPTS_ALLOWED}.",
    )
    counting_rule = SelectField(
        "Which attempt counts", choices=[SelectChoice(rule.value, rule.label) for rule in CountingRule],
        default=CountingRule.BEST.value,
        description="For the student's card and the gradebook, among their completed attempts.",
    )
    batches = SelectMultipleField(
        "Batches", coerce=int,
        widget=ListWidget(html_tag="ul", prefix_label=False), option_widget=CheckboxInput(),
        description="None ticked: the exam is for everyone.",
    )
    shown = HiddenField()  # the exam as this form showed it (audit.fingerprint)
    submit = SubmitField("Save exam")

    def __init__(self, exam: Exam | None = None, **kwargs):
        super().__init__(obj=exam, **kwargs)
        self.exam = exam
        zone = zone_name()
        self.opens_at.label.text = f"Opens at ({zone})"
        self.closes_at.label.text = f"Closes at ({zone})"
        # Unarchived batches, and any archived one the exam is already for (kept unless unticked).
        current = {batch.id for batch in exam.batches} if exam is not None else set()
        choices = db.session.execute(
            sa.select(Batch.id, Batch.name).where(sa.or_(Batch.archived_at.is_(None), Batch.id.in_(current)))
            .order_by(Batch.name)).all()
        self.batches.choices = [SelectChoice(batch_id, name) for batch_id, name in choices]
        if not self.is_submitted():
            if exam is not None:
                self.shown.data = fingerprint(exams.snapshot(exam))
                self.opens_at.data = local_naive(exam.opens_at)
                self.closes_at.data = local_naive(exam.closes_at)
                self.batches.data = sorted(current)
            else:
                self.batches.data = []

    def validate_exam_url(self, field):
        try:
            exams.check_exam_url(field.data)
        except exams.BadExamUrl as error:
            raise ValidationError(str(error)) from None

    def validate_testpress_id(self, field):
        if field.data is not None and exams.testpress_id_in_use(field.data, besides=self.exam):
            raise ValidationError("Another exam already has this Testpress id.")

    @staticmethod
    def _in_utc(field):
        """The field's time in UTC; ValidationError for one UTC would move out of the calendar."""
        try:
            return from_local(field.data)
        except TimeOutOfRange as error:
            raise ValidationError(str(error)) from None

    def validate_opens_at(self, field):
        self._in_utc(field)

    def validate_closes_at(self, field):
        closes_at = self._in_utc(field)
        if self.opens_at.errors:  # validated first (declared first): said at its own field
            return
        try:
            exams.check_window(from_local(self.opens_at.data), closes_at)
        except exams.InvalidExam as error:
            raise ValidationError(str(error)) from None

    def exam_fields(self) -> dict:
        """The submitted values, as portal.exams.rules.add_exam and update_exam take them (times in UTC)."""
        values = {name: self[name].data for name in exams.FIELDS if name in self}
        values["opens_at"], values["closes_at"] = from_local(values["opens_at"]), from_local(values["closes_at"])
        values["batches"] = values["batches"] or []
        return values


def local_naive(moment):
    """A stored UTC time as the naive local time a datetime-local input shows."""
    return None if moment is None else to_local(moment).replace(tzinfo=None)


class BatchForm(Form):
    """A batch's name, to create or rename one (portal.people.batches)."""

    name = StringField("Batch name", validators=[DataRequired(), Length(max=batches.MAX_NAME_LENGTH)])


class AddMembersForm(Form):
    """Emails pasted one a line, to add their people to a batch."""

    emails = TextAreaField("Emails, one a line", validators=[DataRequired(), Length(max=500_000)],
                           description="People not yet in the portal are listed back; add them first.")


class StudentForm(Form):
    """A student or staff member to add (portal.people.accounts.create_person)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=people.MAX_NAME_LENGTH)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=people.MAX_EMAIL_LENGTH)])
    password = PasswordField("Initial password",
                             validators=[DataRequired(), Length(min=people.MIN_PASSWORD_LENGTH, max=1024)])
    is_staff = BooleanField("Staff member")
    submit = SubmitField("Add person")

    def validate_email(self, field):
        if people.email_in_use(field.data):
            raise ValidationError("Someone with this email already exists.")


class PersonForm(Form):
    """A person's name and email, as staff edit them (portal.people.accounts.update_person checks them again)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=people.MAX_NAME_LENGTH)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=people.MAX_EMAIL_LENGTH)])
    shown = HiddenField()  # the person as this form showed them (audit.fingerprint)
    submit = SubmitField("Save")

    def __init__(self, person=None, **kwargs):
        super().__init__(obj=person, **kwargs)
        if person is not None and not self.is_submitted():
            self.shown.data = fingerprint(people.snapshot(person))


class BatchChoiceForm(Form):
    """One batch to put a person in; the page fills `choices` with the unarchived batches."""

    batch = SelectField("Batch", coerce=int, validate_choice=True)
    submit = SubmitField("Add to batch")


class NewPasswordForm(Form):
    """A new password, typed twice (the one-time link's page)."""

    password = PasswordField("New password",
                             validators=[DataRequired(),
                                         Length(min=people.MIN_PASSWORD_LENGTH,
                                                message=f"Must be at least {people.MIN_PASSWORD_LENGTH} characters."),
                                         Length(max=1024, message="Must be at most 1,024 characters.")],
                             description=f"At least {people.MIN_PASSWORD_LENGTH} characters.")
    confirm = PasswordField("New password again",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])
    submit = SubmitField("Set my password")


class ChangePasswordForm(NewPasswordForm):
    """The account page: the current password, then a new one twice."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Change my password")


class FlagNoteForm(Form):
    """A flag's resolution (portal.attempts.flags): the note, required to dismiss, optional to accept.

    The note's rules are portal.attempts.flags'; the length is checked here too, to show at the field.
    """

    note = TextAreaField("Note", validators=[Optional(), Length(max=500)])
