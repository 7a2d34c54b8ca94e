"""Logging in and out, and the home page that sends each person where they belong."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from portal.extensions import db, limiter, login_manager
from portal.forms import LoginForm, NewPasswordForm
from portal.inputs import whole_number
from portal.models import User
from portal.passwords import check_password, hash_password, needs_rehash
from portal.people import find_person, normalise_email

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Incorrect email or password."


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session or remember-me cookie, if it is still current ("<id>:<version>", see User.get_id)."""
    user_id, _, version = session_id.partition(":")
    number, version_number = whole_number(user_id), whole_number(version)
    if number is None or version_number is None:
        return None  # includes a cookie from before session versions, which held the bare id
    user = db.session.get(User, number)
    if user is None or user.session_version != version_number:
        return None
    return user


def submitted_account() -> str:
    """The login limit's key per account: the email as submitted, normalised as stored."""
    # Capped, so that a megabyte of "email" cannot make a megabyte of key.
    return "account:" + (normalise_email(request.form.get("email", ""))[:254] or "-")


def client_address() -> str:
    return "address:" + (get_remote_address() or "-")


def is_safe_next(target: str | None) -> bool:
    """Accept only a path on this site: no scheme, no host, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.route("/")
def home():
    """Send students to their exams, staff to the dashboard, others to the login page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_staff:
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("student.exams"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], key_func=submitted_account,
               methods=["POST"], error_message="Too many login attempts for this account")
@limiter.limit(lambda: current_app.config["LOGIN_ADDRESS_RATE_LIMIT"], key_func=client_address,
               methods=["POST"], error_message="Too many login attempts from your network")
def login():
    """Show the login form; on POST check the credentials and log the person in.

    An unknown email, a wrong password and a deactivated account all get the same
    message and status, so the form tells nobody which emails have accounts. Too many
    attempts for one account, or from one address, answer 429 (see `LOGIN_*_RATE_LIMIT`).
    """
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_person(form.email.data)
        password_ok = check_password(user.password_hash if user else None, form.password.data)
        if user and password_ok and user.is_active:
            if needs_rehash(user.password_hash):
                # The same password under new hash parameters: not a password change, so the
                # person's other sessions go on (no set_password).
                user.password_hash = hash_password(form.password.data)
                db.session.commit()
            login_user(user, remember=form.remember.data)
            current_app.logger.info("login: user %s logged in", user.id)
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else url_for("auth.home"))
        current_app.logger.info("login: failed attempt from %s", request.remote_addr)
        flash(LOGIN_FAILED, "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, with a CSRF token, so no link on another site can do it).

    Ends the session server-side too: a copy of the cookie, or a remember-me cookie, from
    any of the person's devices stops working.
    """
    current_user.end_sessions()
    db.session.commit()
    current_app.logger.info("logout: user %s logged out of every session", current_user.id)
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/<token>", methods=["GET", "POST"])
def password_link(token: str):
    """A one-time password link: the form to choose a password, which spends the link.

    410 for a link used, expired, or never issued (the same page for all three, so that the
    page tells nobody which tokens existed); the form again (422) for a password refused.
    """
    # Imported here: portal.password_links builds its URLs with this blueprint's endpoint.
    from portal.password_links import redeem, usable_link

    if len(token) > 100 or usable_link(token) is None:
        return render_template("auth/password_link.html", form=None), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        person = redeem(token, form.password.data)
        if person is None:  # another submission spent it first
            return render_template("auth/password_link.html", form=None), 410
        db.session.commit()
        current_app.logger.info("password link: user %s set a password", person.id)
        if current_user.is_authenticated:
            logout_user()  # a new password ends every session, this browser's too
        flash("Your password is set. Log in with it.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/password_link.html", form=form), 422 if form.errors else 200
