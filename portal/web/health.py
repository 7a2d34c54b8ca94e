"""`/healthz`, for load balancers and monitoring, and `/metrics`, for Prometheus."""

import hmac

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, jsonify, request

from portal.core import metrics
from portal.core.database import schema_problem
from portal.core.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers with the portal's current schema, else 503 naming the problem."""
    try:
        problem = schema_problem()
    except sa.exc.SQLAlchemyError as error:
        problem = "unreachable"
        current_app.logger.error("healthz: database unreachable: %s", type(error).__name__)
    else:
        if problem:
            current_app.logger.error("healthz: %s", problem)
    finally:
        db.session.rollback()  # a health check holds no transaction open
    if problem:
        return jsonify(status="unavailable", database=problem), 503
    return jsonify(status="ok", database="ok")


@bp.get("/metrics")
def metrics_page():
    """The Prometheus metrics (portal.core.metrics), summed over the workers. A 404 unless
    METRICS_TOKEN is set; then a 401 without `Authorization: Bearer <that token>`."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    sent = request.headers.get("Authorization", "")
    scheme, _, given = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), str(token).encode()):
        current_app.logger.info("metrics: refused a request without the bearer token from %s", request.remote_addr)
        return jsonify(error="a bearer token is required"), 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    body, content_type = metrics.exposition()
    return body, 200, {"Content-Type": content_type}
