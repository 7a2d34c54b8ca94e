"""Every form of the portal, as Flask-WTF classes (each carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    IntegerField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from portal import exams, people
from portal.inputs import LARGEST_ID, whole_number
from portal.models import Exam


class IdField(IntegerField):
    """A positive id for a 64-bit column, in ASCII digits only.

    IntegerField uses int(), which takes "5_5" as 55 and lets 2**63 reach the database
    driver (OverflowError, a 500); the one rule for request integers lives in portal.inputs.
    """

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = whole_number(valuelist[0].strip())
        if self.data is None:
            # Empty is not an error here when the field has Optional(), which clears this.
            raise ValueError(f"Enter a whole number from 1 to {LARGEST_ID}, in digits only.")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me logged in on this device")
    submit = SubmitField("Log in")


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that POST (start, deactivate…)."""


class ExamForm(FlaskForm):
    """An exam to add (no `exam`) or to edit; the rules are portal.exams', shown at their fields."""

    title = StringField("Title", validators=[DataRequired(), Length(max=exams.MAX_TITLE_LENGTH)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=exams.MAX_DESCRIPTION_LENGTH)])
    exam_url = URLField(
        "Testpress exam URL",
        description="Copied from the exam list of your Testpress dashboard.",
        validators=[DataRequired()],
    )
    testpress_id = IdField(
        "Testpress exam id", validators=[Optional()],
        description="Lets webhooks and the Admin API find this exam.",
    )
    opens_at = DateTimeLocalField("Opens at (UTC)", validators=[Optional()])
    closes_at = DateTimeLocalField("Closes at (UTC)", validators=[Optional()])
    published = BooleanField("Published (visible to students)", default=True)
    submit = SubmitField("Save exam")

    def __init__(self, exam: Exam | None = None, **kwargs):
        super().__init__(obj=exam, **kwargs)
        self.exam = exam

    def validate_exam_url(self, field):
        try:
            exams.check_exam_url(field.data)
        except exams.BadExamUrl as error:
            raise ValidationError(str(error)) from None

    def validate_testpress_id(self, field):
        if field.data is not None and exams.testpress_id_in_use(field.data, besides=self.exam):
            raise ValidationError("Another exam already has this Testpress id.")

    def validate_closes_at(self, field):
        try:
            exams.check_window(self.opens_at.data, field.data)
        except exams.InvalidExam as error:
            raise ValidationError(str(error)) from None

    def exam_fields(self) -> dict:
        """The submitted values, as portal.exams.add_exam and update_exam take them."""
        return {name: self[name].data for name in exams.FIELDS}


class StudentForm(FlaskForm):
    """A student or staff member to add (portal.people.create_person)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=people.MAX_NAME_LENGTH)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=people.MAX_EMAIL_LENGTH)])
    password = PasswordField("Initial password",
                             validators=[DataRequired(), Length(min=people.MIN_PASSWORD_LENGTH, max=1024)])
    is_staff = BooleanField("Staff member")
    submit = SubmitField("Add person")

    def validate_email(self, field):
        if people.email_in_use(field.data):
            raise ValidationError("Someone with this email already exists.")


class FlagNoteForm(FlaskForm):
    """A flag's resolution (portal.flags): the note, required to dismiss, optional to accept.

    The note's rules are portal.flags'; the length is checked here too, to show at the field.
    """

    note = TextAreaField("Note", validators=[Optional(), Length(max=500)])
