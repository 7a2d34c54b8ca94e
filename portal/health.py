"""`/healthz`, for load balancers and monitoring."""

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from portal.extensions import db

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """200 with a small JSON body when the app and its database answer, else 503."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        current_app.logger.error("healthz: database unavailable: %s", type(error).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
