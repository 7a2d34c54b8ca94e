"""Testpress's traffic: webhook deliveries, unmatched reports, sync runs, the integration check."""

import sqlalchemy as sa
from flask import render_template

from portal.admin import bp
from portal.extensions import db
from portal.forms import ActionForm
from portal.models import SyncRun, UnmatchedReport, WebhookDelivery


@bp.route("/testpress/")
def testpress():
    """Recent webhook deliveries, unmatched reports and sync runs."""
    deliveries = db.session.scalars(
        sa.select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(100)).all()
    unmatched = db.session.scalars(
        sa.select(UnmatchedReport).order_by(UnmatchedReport.id.desc()).limit(100)).all()
    runs = db.session.scalars(sa.select(SyncRun).order_by(SyncRun.id.desc()).limit(20)).all()
    return render_template("admin/testpress.html", deliveries=deliveries, unmatched=unmatched, runs=runs)


@bp.route("/testpress/check", methods=["GET", "POST"])
def testpress_check():
    """Offer the integration check (GET); run it and show its findings (POST, with CSRF).

    It only reads, so its answer is the page itself rather than a redirect.
    """
    from portal.testpress.check import run_checks

    form = ActionForm()
    report = run_checks() if form.validate_on_submit() else None
    return render_template("admin/testpress_check.html", form=form, report=report)
