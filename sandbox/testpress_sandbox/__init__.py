"""A local stand-in for Testpress: launch by HMAC, exams, return, review, webhooks and the Admin API.

Run it next to the portal (the browser must see two sites, as in production)::

    flask --app testpress_sandbox init-db
    flask --app testpress_sandbox run --host localhost --port 5001

or ``python -m testpress_sandbox`` which does both. Settings: ``testpress_sandbox.config``.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """The sandbox app: defaults, then ``SANDBOX_*`` environment variables, then ``test_config``."""
    # Imported here so the demo can import the sandbox's config and seed data without
    # loading the sandbox's views and their dependencies first.
    from . import admin, api, cli, exams, mailbox
    from .config import DEFAULTS
    from .models import db
    from .webhooks import EXTENSION, WebhookDispatcher

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SANDBOX")
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        # Only signs the sandbox's own API tokens and flash messages: a restart logging
        # everyone out is what a real token expiry looks like anyway.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    configure_database(app, db)

    app.register_blueprint(exams.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(mailbox.bp)
    app.extensions[mailbox.EXTENSION] = mailbox.Mailbox()
    cli.register(app)
    configure_pages(app, db)
    app.extensions[EXTENSION] = WebhookDispatcher(app)
    return app


def configure_database(app: Flask, db) -> None:
    import sqlalchemy as sa

    database = app.config["DATABASE"]
    if not database:
        os.makedirs(app.instance_path, exist_ok=True)
        database = os.path.join(app.instance_path, "sandbox.sqlite")
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", database if "://" in database else f"sqlite:///{database}")
    # Requests and the webhook worker write from different threads: wait for the lock, don't fail.
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def configure_pages(app: Flask, db) -> None:
    """Health check, the front page, error pages (JSON under /api/) and a strict CSP."""
    import sqlalchemy as sa
    from flask import jsonify, redirect, render_template, request, url_for
    from werkzeug.exceptions import HTTPException, InternalServerError

    @app.get("/healthz")
    def healthz():
        """200 with a small JSON body when the app and its database answer; 503 otherwise."""
        try:
            db.session.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return jsonify(status="unavailable", service="testpress-sandbox"), 503
        return jsonify(status="ok", service="testpress-sandbox")

    @app.get("/")
    def home():
        return redirect(url_for("sandbox.index"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, InternalServerError):
            db.session.rollback()
        if request.path.startswith("/api/"):
            return jsonify(detail=error.description if error.code != 500 else "A server error occurred."), error.code
        return render_template("error.html", title=error.name, reason=error.description), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return http_error(InternalServerError())

    @app.after_request
    def security_headers(response):
        # No inline script anywhere; forms may post to the institute's surl on another site.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
