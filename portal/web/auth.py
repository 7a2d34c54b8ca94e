"""Logging in and out, and the home page that sends each person where they belong."""

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from limits import parse as parse_rate

from portal.core import metrics
from portal.core.database import whole_number
from portal.core.extensions import db, limiter, login_manager
from portal.core.passwords import check_password, hash_password, needs_rehash
from portal.models import User
from portal.people import password_links
from portal.people.accounts import MIN_PASSWORD_LENGTH, InvalidPerson, find_person, normalise_email, set_password
from portal.web.errors import too_many
from portal.web.forms import ChangePasswordForm, LoginForm, NewPasswordForm

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Incorrect email or password."


class SignedIn(UserMixin):
    """The person a request comes from (Flask-Login's `current_user`): the columns the pages
    read of them, as a plain object.

    Loading the whole User through the ORM on every request cost more than the rest of a
    student page's queries together (bench/README.md). Pages read these; a view that
    changes the person loads their User (`db.session.get(User, current_user.id)`).
    """

    __slots__ = ("id", "email", "name", "is_staff", "active", "session_version")

    def __init__(self, id: int, email: str, name: str, is_staff: bool, active: bool, session_version: int):
        self.id, self.email, self.name = id, email, name
        self.is_staff, self.active, self.session_version = bool(is_staff), bool(active), session_version

    is_active = User.is_active
    get_id = User.get_id


# Table columns rather than the model's attributes: a plain select runs in half the time of
# one the ORM has to interpret (bench/README.md).
_users = User.__table__
SIGNED_IN = sa.select(*(_users.c[name] for name in SignedIn.__slots__)).where(_users.c.id == sa.bindparam("id"))


def require_login():
    """The one login guard: anyone not logged in is sent to the login page, with `next` to
    come back, exactly as Flask-Login's `login_required` does (it is its own answer,
    `unauthorized()`). A before_request hook of the student and the staff blueprints, where
    every page needs a person; the two signed-in pages of this blueprint, which is public
    otherwise, carry `login_required` itself."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@login_manager.user_loader
def load_user(session_id: str) -> SignedIn | None:
    """The person of a session or remember-me cookie, if it is still current ("<id>:<version>", see User.get_id)."""
    user_id, _, version = session_id.partition(":")
    number, version_number = whole_number(user_id), whole_number(version)
    if number is None or version_number is None:
        return None  # includes a cookie from before session versions, which held the bare id
    row = db.session.execute(SIGNED_IN, {"id": number}).one_or_none()
    if row is None or row.session_version != version_number:
        return None
    return SignedIn(*row)


# -- password guesses ---------------------------------------------------------------------------
# Every form that checks a password (the login, the account page's current password) counts
# its wrong answers, never its right ones, per account and per client address, in the
# limiter's shared storage. Past the per-account limit, only an address that has not been
# failing for that account may still try: so a classmate's ten guesses do not lock the owner
# out (OWASP's guidance), while the guesser, and any address guessing many accounts, is stopped.
GUESSES = "password-failures"


def account_key(email: str) -> str:
    """The per-account key: the email normalised as stored, capped, so that a megabyte of
    "email" cannot make a megabyte of key."""
    return "account:" + (normalise_email(email)[:254] or "-")


def client_address() -> str:
    return "address:" + (get_remote_address() or "-")


def _guess_limits():
    config = current_app.config
    return parse_rate(config["LOGIN_ACCOUNT_RATE_LIMIT"]), parse_rate(config["LOGIN_ADDRESS_RATE_LIMIT"])


def guessing_refused(account: str):
    """The 429 page if a password for `account` may not be checked from here now, else None."""
    if not limiter.enabled:
        return None
    per_account, per_address = _guess_limits()
    strategy, address = limiter.limiter, client_address()
    if not strategy.test(per_address, GUESSES, address):
        return too_many("Too many login attempts from your network",
                        strategy.get_window_stats(per_address, GUESSES, address).reset_time)
    failed_here = strategy.get_window_stats(per_account, GUESSES, account, address).remaining < per_account.amount
    if failed_here and not strategy.test(per_account, GUESSES, account):
        return too_many("Too many login attempts for this account",
                        strategy.get_window_stats(per_account, GUESSES, account).reset_time)
    return None


def count_wrong_password(account: str) -> None:
    if not limiter.enabled:
        return
    per_account, per_address = _guess_limits()
    strategy, address = limiter.limiter, client_address()
    strategy.hit(per_account, GUESSES, account)
    strategy.hit(per_account, GUESSES, account, address)
    strategy.hit(per_address, GUESSES, address)


def is_safe_next(target: str | None) -> bool:
    """Accept only a path on this site: no scheme, no host, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.get("/")
def home():
    """Send students to their exams, staff to the dashboard, others to the login page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_staff:
        return redirect(url_for("admin.dashboard"))
    return redirect(url_for("student.exams"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; on POST check the credentials and log the person in.

    An unknown email, a wrong password and a deactivated account all get the same
    message and status, so the form tells nobody which emails have accounts. Too many
    wrong answers for one account, or from one address, answer 429 (see "password guesses").
    """
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        account = account_key(form.email.data)
        if refused := guessing_refused(account):
            metrics.LOGIN_REFUSALS.labels("throttled").inc()
            return refused
        user = find_person(form.email.data)
        password_ok = check_password(user.password_hash if user else None, form.password.data)
        if user and password_ok and user.is_active:
            if needs_rehash(user.password_hash):
                # The same password under new hash parameters: not a password change, so the
                # person's other sessions go on (no set_password).
                user.password_hash = hash_password(form.password.data)
                db.session.commit()
            target = request.args.get("next")
            # A fresh session: nothing from before the login (its CSRF secret above all) carries over.
            session.clear()
            login_user(user, remember=form.remember.data)
            current_app.logger.info("login: user %s logged in", user.id)
            return redirect(target if is_safe_next(target) else url_for("auth.home"))
        count_wrong_password(account)
        metrics.LOGIN_REFUSALS.labels("wrong email or password").inc()
        current_app.logger.info("login: failed attempt from %s", request.remote_addr)
        flash(LOGIN_FAILED, "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Log out (POST only, with a CSRF token, so no link on another site can do it).

    Ends the session server-side too: a copy of the cookie, or a remember-me cookie, from
    any of the person's devices stops working.
    """
    db.session.get(User, current_user.id).end_sessions()
    db.session.commit()
    current_app.logger.info("logout: user %s logged out of every session", current_user.id)
    logout_user()
    session.clear()  # nothing of the signed-in session (its CSRF secret) outlives it
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/<token>", methods=["GET", "POST"], endpoint="set_password")
def set_password_from_link(token: str):
    """A one-time password link: a form to choose a new password, then the login page.

    An unknown, used or expired link (or one for a deactivated account) is a 404 page that
    says so in a student's words. It works whether or not someone is logged in. No rate
    limit: the token is 256 random bits, so guessing one is hopeless, and the database holds
    only its hash. The token never reaches a log line (portal.core.logs logs this route's rule).
    """
    @after_this_request
    def keep_the_token_to_this_page(response):
        # The token is in this page's address: no link or resource it loads may be told of it.
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    link = password_links.usable_link(token)
    if link is None:
        current_app.logger.info("password link: an unusable link was opened")
        return render_template("auth/link_expired.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            person = password_links.redeem(token, form.password.data)
        except InvalidPerson as error:
            form.password.errors.append(str(error))
        else:
            if person is None:  # another submission spent it a moment ago
                return render_template("auth/link_expired.html"), 404
            db.session.commit()
            current_app.logger.info("password link: user %s set a new password", person.id)
            if current_user.is_authenticated and current_user.id == person.id:
                logout_user()  # their session ended with the old password
            flash("Your new password is set. Log in with it.", "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    return render_template("auth/set_password.html", form=form, person=link.user), status


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The logged-in person's name and email, and a form to change their own password.

    The current password is required (a session left open on a shared computer must not be
    enough to take the account); a change ends every other session, this one goes on.
    """
    form = ChangePasswordForm()
    if form.is_submitted():
        # Every complaint at once: the current password is checked even when the new one is
        # refused, so that a person fixes the form in one go, not one field a press.
        form.validate()
        if form.current.data and not form.current.errors:
            account = account_key(current_user.email)
            if refused := guessing_refused(account):
                return refused
            if not check_password(db.session.get(User, current_user.id).password_hash, form.current.data):
                count_wrong_password(account)
                current_app.logger.info("account: user %s gave a wrong current password", current_user.id)
                form.current.errors.append("This is not your current password.")
        if not form.errors:
            try:
                person = set_password(current_user.email, form.password.data)
            except InvalidPerson as error:
                form.password.errors.append(str(error))
            else:
                db.session.commit()
                # The change raised the session version, which ends every session, this one
                # too: log in again here, keeping a remember-me cookie if there was one.
                remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
                session.clear()
                login_user(person, remember=remember)
                current_app.logger.info("account: user %s changed their password", person.id)
                flash("Your password is changed. Your other devices have been logged out.", "success")
                return redirect(url_for("auth.account"))
    status = 422 if form.errors else 200
    return render_template("auth/account.html", form=form, min_length=MIN_PASSWORD_LENGTH), status
