"""The portal with two routes more, for the benchmarks: the floors of its own stack.

- An empty page behind the login (`pages_bench.py`): what every logged-in page pays before
  its own work: the session cookie, the person's row, the request log, the security headers,
  Flask and its extensions. Every page's ratio to the bare route is bounded by this one's.
- A signed insert (`webhook_bench.py`): Testpress's body verified as the webhook verifies it,
  one log row inserted and committed, a JSON answer: what a delivery costs on the portal's
  stack before matching and recording, the webhook's own floor.
"""

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request
from flask_login import login_required

EMPTY_PAGE = "/bench/empty"
SIGNED_INSERT = "/bench/signed-insert"


def add_empty_page(app: Flask) -> Flask:
    @app.get(EMPTY_PAGE)
    @login_required
    def empty_page():
        return "ok"

    return app


def add_signed_insert(app: Flask) -> Flask:
    from portal.core.extensions import csrf, db
    from portal.models import WebhookDelivery
    from portal.testpress.settings import testpress_settings
    from portal.testpress.signing import WebhookError, verify_webhook

    log_row = sa.insert(WebhookDelivery.__table__)

    @app.post(SIGNED_INSERT)
    @csrf.exempt
    def signed_insert():
        settings = testpress_settings()
        body = request.get_data()
        try:
            verify_webhook(body, public_key=settings.public_key, private_key=settings.private_key,
                           algorithms=settings.webhook_algorithms, encoding=settings.encoding)
        except WebhookError:
            abort(400)
        db.session.execute(log_row, {"verified": True, "outcome": "unchanged", "payload": body.decode()})
        db.session.commit()
        return jsonify(status="unchanged")

    return app


def served() -> Flask:
    """gunicorn's factory (`bench.portal_floor:served()`): the production app of wsgi.py, plus the routes."""
    from wsgi import app

    return add_signed_insert(add_empty_page(app))
