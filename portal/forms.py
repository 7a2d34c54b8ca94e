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
from wtforms.validators import URL, DataRequired, Email, Length, Optional, ValidationError

from portal.inputs import LARGEST_ID, whole_number


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
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    exam_url = URLField(
        "Testpress exam URL",
        description="Copied from the exam list of your Testpress dashboard.",
        validators=[DataRequired(), URL(require_tld=False), Length(max=500)],
    )
    testpress_id = IdField(
        "Testpress exam id", validators=[Optional()],
        description="Lets webhooks and the Admin API find this exam.",
    )
    opens_at = DateTimeLocalField("Opens at (UTC)", validators=[Optional()])
    closes_at = DateTimeLocalField("Closes at (UTC)", validators=[Optional()])
    published = BooleanField("Published (visible to students)", default=True)
    submit = SubmitField("Save exam")

    def validate_exam_url(self, field):
        if not field.data.lower().startswith(("https://", "http://")):
            raise ValidationError("The exam URL must start with https:// or http://.")

    def validate_closes_at(self, field):
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError("The exam must close after it opens.")


class StudentForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=8, max=1024)])
    is_staff = BooleanField("Staff member")
    submit = SubmitField("Add person")
