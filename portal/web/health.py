"""`/healthz`, for load balancers and monitoring."""

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

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
