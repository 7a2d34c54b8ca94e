"""The sandbox's own control room: exams and attempts, evaluation, faults and the webhook log.

No login: the sandbox is a local stand-in for Testpress, and tests drive these endpoints over HTTP.
Each action answers JSON to a JSON request and redirects a browser's form back to its page.
"""

from __future__ import annotations

from dataclasses import fields

import sqlalchemy as sa
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from . import faults
from .attempts import evaluate_attempt, reevaluate_attempt
from .models import Attempt, Exam, WebhookDelivery, db, iso
from .webhooks import dispatcher

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def wants_json() -> bool:
    if request.method == "GET":
        # Scripts (no Accept, or */*) get JSON; a browser asking for HTML gets the page.
        best = request.accept_mimetypes.best_match(["application/json", "text/html"], default="application/json")
        return best == "application/json"
    return request.is_json


@bp.get("/")
def index():
    """Exams with their launch URLs, and the latest attempts with staff actions."""
    exams = db.session.scalars(sa.select(Exam).order_by(Exam.id)).all()
    latest = db.session.scalars(sa.select(Attempt).order_by(Attempt.id.desc()).limit(50)).all()
    total = db.session.scalar(sa.select(sa.func.count(Attempt.id)))
    return render_template("admin/index.html", exams=exams, attempts=latest, total=total)


@bp.route("/faults", methods=["GET", "POST"])
def fault_settings():
    """Read (GET) or replace (POST) the faults; ``{}`` resets them. 400 names a bad setting."""
    if request.method == "POST":
        settings = request.get_json(silent=True) if request.is_json else form_faults(request.form)
        if not isinstance(settings, dict):
            return jsonify(error="send a JSON object of faults"), 400
        try:
            state = faults.set_faults(settings)
        except ValueError as error:
            if request.is_json:
                return jsonify(error=str(error)), 400
            flash(str(error), "error")
            return redirect(url_for("sandbox.fault_settings"))
        if request.is_json:
            return jsonify(state)
        flash("Faults updated.", "info")
        return redirect(url_for("sandbox.fault_settings"))
    if wants_json():
        return jsonify(faults.as_json())
    return render_template("admin/faults.html", faults=faults.current(), token_generation=faults.token_generation())


def form_faults(form) -> dict:
    """The fault form's fields as typed settings; an empty number field means no fault."""
    settings: dict[str, object] = {}
    for field in fields(faults.Faults):
        name, default = field.name, field.default
        if isinstance(default, bool):
            settings[name] = name in form
            continue
        text = form.get(name, "").strip()
        if text:
            try:
                settings[name] = float(text) if isinstance(default, float) else int(text)
            except ValueError:
                settings[name] = text  # set_faults refuses it with a clear message
    settings["expire_tokens"] = "expire_tokens" in form
    return settings


@bp.get("/webhooks")
def webhook_log():
    """Every delivery try, newest first (JSON to a JSON client)."""
    tries = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(500)).all()
    if wants_json():
        return jsonify(
            unfinished=dispatcher().unfinished,
            deliveries=[
                {
                    "id": entry.id,
                    "created_at": iso(entry.created_at),
                    "event": entry.event,
                    "attempt_id": entry.attempt_id,
                    "url": entry.url,
                    "try_number": entry.try_number,
                    "status_code": entry.status_code,
                    "error": entry.error,
                    "outcome": entry.outcome,
                    "body": entry.body,
                }
                for entry in tries
            ],
        )
    return render_template("admin/webhooks.html", deliveries=tries, unfinished=dispatcher().unfinished)


@bp.get("/webhooks/wait")
def wait_for_webhook_queue():
    """Block until queued webhooks are delivered (or out of tries), at most ?timeout= seconds (max 60)."""
    try:
        timeout = min(max(float(request.args.get("timeout", "10")), 0.0), 60.0)
    except ValueError:
        return jsonify(error="timeout must be a number of seconds"), 400
    idle = dispatcher().wait_until_idle(timeout)
    return jsonify(idle=idle, unfinished=dispatcher().unfinished), 200 if idle else 504


def _attempt_action(action, attempt_id: int, *args):
    try:
        attempt = action(attempt_id, *args)
    except LookupError as error:
        return _action_answer(str(error), 404)
    except ValueError as error:
        return _action_answer(str(error), 409)
    return _action_answer(
        f"Attempt {attempt.id}: {attempt.correct_answers_count} correct, score {attempt.score_text}.", 200
    )


def _action_answer(message: str, status: int):
    if request.is_json:
        return jsonify(message=message), status
    flash(message, "info" if status == 200 else "error")
    return redirect(url_for("sandbox.index"))


@bp.post("/attempts/<int:attempt_id>/evaluate")
def evaluate(attempt_id: int):
    """Evaluate a pending attempt and send its completed webhook. 404 unknown, 409 not pending."""
    return _attempt_action(evaluate_attempt, attempt_id)


@bp.post("/attempts/<int:attempt_id>/reevaluate")
def reevaluate(attempt_id: int):
    """Give a completed attempt a new correct_answers_count and send a new completed webhook.
    400 without a whole number, 404 unknown attempt, 409 not completed or out of range."""
    data = request.get_json(silent=True) if request.is_json else request.form
    value = str((data or {}).get("correct_answers_count", "")).strip()
    if not value.isdigit():
        return _action_answer("correct_answers_count must be a whole number.", 400)
    return _attempt_action(reevaluate_attempt, attempt_id, int(value))
