"""The student's side of Testpress: launch by HMAC, taking the exam, the return to surl, and review."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .attempts import LaunchRefused, launch_attempt, return_fields, save_answers, submit_attempt, take_later
from .models import COMPLETED, Attempt, Exam, db
from .signing import LAUNCH, REVIEW

bp = Blueprint("exams", __name__, url_prefix="/exams")

LAUNCH_FIELDS = ("email", "first_name", "institute_attempt_id", "key", "time", "hmac", "surl")
REVIEW_FIELDS = ("id", "institute_attempt_id", "key", "time", "hmac")


def refuse(reason: str, status: int = 400):
    return render_template("error.html", title="Request refused", reason=reason), status


def check_signed_time(text: str, what: str) -> None:
    """Raise LaunchRefused unless ``text`` is epoch seconds within the signature's lifetime."""
    if not text.isdigit():
        raise LaunchRefused("time must be whole seconds since the epoch.")
    age = int(time.time()) - int(text)
    config = current_app.config
    if age > config["LAUNCH_TTL"]:
        raise LaunchRefused(f"This {what} has expired: it was signed more than "
                            f"{config['LAUNCH_TTL'] // 60} minutes ago.", 403)
    if age < -config["CLOCK_SKEW"]:
        raise LaunchRefused(f"This {what}'s time is in the future: check the institute server's clock.", 403)


def check_launch(form) -> dict[str, str]:
    """Verify a launch form as Testpress does; raises LaunchRefused naming the first problem."""
    config = current_app.config
    # Values stay exactly as sent: the hmac signs them byte for byte.
    fields = {name: form.get(name, "") for name in LAUNCH_FIELDS}
    missing = [name for name, value in fields.items() if not value.strip()]
    if missing:
        raise LaunchRefused(f"Missing field(s): {', '.join(missing)}.")
    if fields["key"] != config["PUBLIC_KEY"]:
        raise LaunchRefused("Unknown institute key.", 403)
    if not LAUNCH.verify(config["SECRET"], fields, fields["hmac"], encoding=config["PERCENT_ENCODING"]):
        raise LaunchRefused("Invalid hmac: the signature does not match the fields.", 403)
    check_signed_time(fields["time"], "launch link")
    surl = urlsplit(fields["surl"])
    if surl.scheme not in ("http", "https") or not surl.netloc:
        raise LaunchRefused("surl must be an absolute http(s) URL.")
    return fields


@bp.post("/run/<slug>/start/")
def launch(slug: str):
    """Start an attempt from an institute's signed form. Refusals: 404 unknown exam, 400 missing
    or malformed fields, 403 unknown key, bad hmac or stale time, 409 institute_attempt_id reused."""
    exam = db.session.scalar(sa.select(Exam).where(Exam.slug == slug))
    if exam is None:
        return refuse("There is no exam at this URL. Copy the exam URL again from the exam list.", 404)
    try:
        fields = check_launch(request.form)
        attempt = launch_attempt(
            exam,
            email=fields["email"],
            first_name=fields["first_name"],
            institute_attempt_id=fields["institute_attempt_id"],
            time=fields["time"],
            surl=fields["surl"],
        )
    except LaunchRefused as refusal:
        db.session.rollback()
        return refuse(refusal.reason, refusal.status)
    return redirect(url_for("exams.take", token=attempt.take_token), 303)


def attempt_for(token: str) -> Attempt:
    attempt = db.session.scalar(sa.select(Attempt).where(Attempt.take_token == token))
    if attempt is None:
        abort(404)
    return attempt


@bp.route("/take/<token>/", methods=["GET", "POST"])
def take(token: str):
    """The exam page; POST saves the answers and either submits or leaves for later. 404 unknown token."""
    attempt = attempt_for(token)
    if attempt.is_submitted:
        return redirect(url_for("exams.send_back", token=token), 303)
    if request.method == "POST":
        chosen = {
            name.removeprefix("q"): int(value)
            for name, value in request.form.items()
            if name.startswith("q") and value.isdigit()
        }
        save_answers(attempt, chosen)
        if request.form.get("action") == "submit":
            submit_attempt(attempt)
        else:
            take_later(attempt)
        return redirect(url_for("exams.send_back", token=token), 303)
    return render_template("exams/take.html", attempt=attempt, exam=attempt.exam)


@bp.get("/take/<token>/return/")
def send_back(token: str):
    """The auto-submitting form that posts the result to the institute's surl. 404 unknown token."""
    attempt = attempt_for(token)
    if attempt.return_status is None:
        return redirect(url_for("exams.take", token=token))
    return render_template("exams/return.html", attempt=attempt, surl=attempt.surl, fields=return_fields(attempt))


@bp.get("/attempts/")
def review():
    """Review a completed attempt from a signed link. Refusals: 400 missing fields, 403 unknown key,
    bad hmac or stale time, 404 unknown attempt, 409 attempt not completed."""
    config = current_app.config
    fields = {name: request.args.get(name, "") for name in REVIEW_FIELDS}
    missing = [name for name, value in fields.items() if not value.strip()]
    if missing:
        return refuse(f"Missing parameter(s): {', '.join(missing)}.")
    if fields["key"] != config["PUBLIC_KEY"]:
        return refuse("Unknown institute key.", 403)
    if not REVIEW.verify(config["SECRET"], fields, fields["hmac"], encoding=config["PERCENT_ENCODING"]):
        return refuse("Invalid hmac: the signature does not match the parameters.", 403)
    try:
        check_signed_time(fields["time"], "review link")
    except LaunchRefused as refusal:
        return refuse(refusal.reason, refusal.status)
    attempt = db.session.get(Attempt, int(fields["id"])) if fields["id"].isdigit() else None
    if attempt is None or attempt.institute_attempt_id != fields["institute_attempt_id"]:
        return refuse("No such attempt for this institute_attempt_id.", 404)
    if attempt.state != COMPLETED:
        return refuse("This attempt has not been completed and evaluated yet.", 409)
    return render_template("exams/review.html", attempt=attempt, exam=attempt.exam)
