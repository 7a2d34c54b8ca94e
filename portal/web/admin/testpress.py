"""Testpress's traffic: webhook deliveries, unmatched reports, sync runs (and Sync now), the
integration check."""

import json

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal.core.clock import utcnow, zone_name
from portal.core.extensions import db
from portal.models import Attempt, SyncRun, UnmatchedReport, WebhookDelivery
from portal.testpress import sync
from portal.testpress.client import TestpressClient, TestpressError
from portal.testpress.settings import testpress_settings
from portal.web.admin.actions import require_button
from portal.web.admin.blueprint import bp
from portal.web.admin.testpress_words import Words
from portal.web.forms import ActionForm
from portal.web.inputs import BadInput, query_local_time, row_id
from portal.web.testpress.webhook import DELIVERY_OUTCOMES

DELIVERIES_PER_PAGE = 50
RUNS_PER_PAGE = 50
RECENT = 20  # of each kind, on the overview


# A delivery's student and exam, in the same statement: the log names who and which exam, not only Testpress's ids.
WITH_ATTEMPT = (joinedload(WebhookDelivery.attempt).joinedload(Attempt.student),
                joinedload(WebhookDelivery.attempt).joinedload(Attempt.exam))


@bp.get("/testpress/")
def testpress():
    """Recent webhook deliveries, unmatched reports and sync runs, and Sync now."""
    deliveries = db.session.scalars(
        sa.select(WebhookDelivery).options(*WITH_ATTEMPT).order_by(WebhookDelivery.id.desc()).limit(RECENT)).all()
    unmatched = db.session.scalars(
        sa.select(UnmatchedReport).order_by(UnmatchedReport.id.desc()).limit(100)).all()
    runs = db.session.scalars(sa.select(SyncRun).options(joinedload(SyncRun.started_by))
                              .order_by(SyncRun.id.desc()).limit(RECENT)).all()
    return render_template("admin/testpress/testpress.html", deliveries=deliveries, unmatched=unmatched, runs=runs,
                           words=Words(deliveries, unmatched), running=sync.running_sync(), now=utcnow(),
                           action=ActionForm())


@bp.get("/testpress/deliveries/")
def deliveries():
    """The webhook log, newest first, by outcome and time received (typed in the institute's
    zone); pages of DELIVERIES_PER_PAGE by id (`before`), so every page costs one bounded
    statement however long the log. 400 for a filter that is not one."""
    outcome = request.args.get("outcome", "")
    if outcome and outcome not in DELIVERY_OUTCOMES:
        raise BadInput(f"“outcome” must be one of {', '.join(DELIVERY_OUTCOMES)}.")
    since, until, before = query_local_time("from"), query_local_time("to"), row_id("before")
    query = sa.select(WebhookDelivery).options(*WITH_ATTEMPT)
    if outcome:
        query = query.where(WebhookDelivery.outcome == outcome)
    if since:
        query = query.where(WebhookDelivery.received_at >= since)
    if until:
        query = query.where(WebhookDelivery.received_at < until)
    if before:
        query = query.where(WebhookDelivery.id < before)
    rows = db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(DELIVERIES_PER_PAGE + 1)).all()
    filters = {"outcome": outcome, "from": request.args.get("from", "").strip(),
               "to": request.args.get("to", "").strip()}
    older = rows[DELIVERIES_PER_PAGE - 1].id if len(rows) > DELIVERIES_PER_PAGE else None
    shown = rows[:DELIVERIES_PER_PAGE]
    return render_template("admin/testpress/deliveries.html", deliveries=shown, words=Words(shown), filters=filters,
                           kept={name: value for name, value in filters.items() if value},
                           outcomes=DELIVERY_OUTCOMES, older=older, paged=before is not None, zone=zone_name())


@bp.get("/testpress/deliveries/<int:delivery_id>")
def delivery(delivery_id: int):
    """One webhook delivery: when, from where, its verification and outcome, the attempt it
    matched and its payload as received (without its hash). 404 if unknown."""
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    return render_template("admin/testpress/delivery.html", delivery=delivery,
                           told=Words([delivery]).delivery(delivery), payload=pretty_json(delivery.payload))


@bp.get("/testpress/unmatched/<int:report_id>")
def unmatched_report(report_id: int):
    """One verified report the portal could not match to a student or exam. 404 if unknown."""
    report = db.get_or_404(UnmatchedReport, report_id)
    return render_template("admin/testpress/unmatched.html", report=report, told=Words(reports=[report]).report(report),
                           payload=pretty_json(report.payload))


@bp.get("/testpress/runs/")
def runs():
    """Every sync run, newest first, with how it ended; pages by id (`before`)."""
    before = row_id("before")
    query = sa.select(SyncRun).options(joinedload(SyncRun.started_by))
    if before:
        query = query.where(SyncRun.id < before)
    rows = db.session.scalars(query.order_by(SyncRun.id.desc()).limit(RUNS_PER_PAGE + 1)).all()
    older = rows[RUNS_PER_PAGE - 1].id if len(rows) > RUNS_PER_PAGE else None
    return render_template("admin/testpress/runs.html", runs=rows[:RUNS_PER_PAGE], older=older,
                           paged=before is not None, now=utcnow())


@bp.get("/testpress/runs/<int:run_id>")
def run(run_id: int):
    """One sync run and its progress (the page refreshes itself while it runs). 404 if unknown."""
    return render_template("admin/testpress/run.html", run=db.get_or_404(SyncRun, run_id), now=utcnow())


@bp.post("/testpress/sync")
def sync_now():
    """Start a sync in the background (one at a time, across every worker and server) and
    show its page. 400 without a valid CSRF token; a sync already running is a message
    linking to it; Testpress settings that cannot make a client are a message too."""
    require_button()
    try:
        client = TestpressClient.from_settings(testpress_settings())
    except TestpressError as error:
        flash(f"Cannot sync: {error}.", "error")
        return redirect(url_for("admin.testpress"))
    try:
        started = sync.begin_sync(started_by=current_user)
    except sync.SyncAlreadyRunning as running:
        current_app.logger.info("sync now: refused, %s", running)
        if running.run is None:
            flash("A sync is already running.", "warning")
            return redirect(url_for("admin.testpress"))
        flash(f"A sync is already running (run {running.run.id}): here is its progress.", "warning")
        return redirect(url_for("admin.run", run_id=running.run.id))
    sync.start_in_background(current_app._get_current_object(), client, started)
    current_app.logger.info("sync now: user %s started run %s", current_user.id, started.id)
    flash(f"Sync run {started.id} started.", "success")
    return redirect(url_for("admin.run", run_id=started.id))


def pretty_json(text: str | None) -> str | None:
    """A stored payload, indented for reading; text that is not JSON (a refused body) as it is."""
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


@bp.route("/testpress/check", methods=["GET", "POST"])
def testpress_check():
    """Offer the integration check (GET); run it and show its findings (POST, with CSRF).

    It only reads, so its answer is the page itself rather than a redirect.
    """
    from portal.testpress.check import run_checks

    form = ActionForm()
    report = run_checks() if form.validate_on_submit() else None
    return render_template("admin/testpress/testpress_check.html", form=form, report=report)
