"""The institute portal for Testpress: a Flask app built by `create_app`."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.core import metrics
from portal.core.clock import load_zone
from portal.core.config import Defaults, require_secret_key
from portal.core.database import configure_engine
from portal.core.extensions import csrf, db, limiter, login_manager, migrate
from portal.core.logs import configure_logging
from portal.core.sessions import PortalSessionInterface
from portal.testpress.settings import TestpressSettings
from portal.web.inputs import IdConverter, PortalRequest, refuse_nul_characters

PACKAGE = Path(__file__).resolve().parent
MIGRATIONS = PACKAGE / "migrations"
# In the checkout (and an editable install) templates/ and static/ sit beside the package; a
# built wheel carries them inside it (see pyproject.toml).
ASSETS = PACKAGE if (PACKAGE / "templates").is_dir() else PACKAGE.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the portal. Settings: defaults, instance/config.py, PORTAL_* env, test_config.

    The instance folder (config.py, the default SQLite database) is PORTAL_INSTANCE_PATH if set.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path(),
        template_folder=str(ASSETS / "templates"),
        static_folder=str(ASSETS / "static"),
    )
    app.request_class = PortalRequest  # a body limit per endpoint: see portal.web.inputs
    app.session_interface = PortalSessionInterface()  # its signer built once per key
    configure_settings(app, test_config)
    configure_logging(app)
    metrics.init_app(app)
    configure_extensions(app)
    configure_security(app)
    configure_templates(app)
    configure_blueprints(app)
    configure_cli(app)
    return app


def instance_path() -> str | None:
    """PORTAL_INSTANCE_PATH, made absolute; None leaves Flask's default: instance/ in the
    checkout, <virtualenv>/var/portal-instance for an installed package."""
    folder = os.environ.get("PORTAL_INSTANCE_PATH")
    return os.path.abspath(folder) if folder else None


def configure_settings(app: Flask, test_config: dict | None) -> None:
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PORTAL")
    if test_config:
        app.config.update(test_config)
    require_secret_key(app.config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        database = Path(app.instance_path) / "portal.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database}"
    # The text of a database error (logged by the 500 handler, a sync's failure) would carry
    # the statement's parameters: a webhook's body, an email, a password hash. Kept out, on
    # top of whatever engine options an installation sets.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
                                               "hide_parameters": True}
    if not app.config["TESTPRESS_PRIVATE_KEY"]:
        app.config["TESTPRESS_PRIVATE_KEY"] = app.config["TESTPRESS_SECRET"]
    app.extensions["timezone"] = load_zone(app.config["TIMEZONE"])
    # Parsed now, so that a misspelt encoding or algorithm stops the start, not a request.
    app.extensions["testpress_settings"] = TestpressSettings.from_config(app.config)


def configure_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():  # Flask-SQLAlchemy made the engine in init_app; nothing connects yet
        configure_engine(db.engine, app.config["DATABASE_BUSY_TIMEOUT"])
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    import portal.attempts.standings  # noqa: F401  keeps the standings current at every flush
    import portal.core.ratelimit  # noqa: F401  registers the portal+sqlalchemy:// storage
    import portal.exams.stats  # noqa: F401  keeps exam_stats as attempts are flushed
    limiter.init_app(app)


def configure_security(app: Flask) -> None:
    if app.config.get("PROXY_COUNT"):
        # Behind N reverse proxies, trust their X-Forwarded-* so that external URLs
        # (the surl sent to Testpress) carry the public scheme and host.
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    app.before_request(refuse_nul_characters)

    # Forms post only here, and the launch form to Testpress (every exam URL is on
    # TESTPRESS_BASE_URL's host: `flask testpress check` says so otherwise). Written once.
    base = urlsplit(app.config.get("TESTPRESS_BASE_URL") or "")
    testpress_origin = f" {base.scheme}://{base.netloc}" if base.scheme in ("http", "https") and base.netloc else ""
    policy = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
              f"base-uri 'self'; frame-ancestors 'none'; form-action 'self'{testpress_origin}")

    # Every response's headers, each added unless the view set its own: one pass over the
    # response's headers (setdefault scanned them three times per header).
    always = [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
              ("X-Frame-Options", "DENY"),
              # Review links carry a signature: never leak a URL to another site.
              ("Referrer-Policy", "same-origin")]
    # Only over HTTPS (as the browser, behind PROXY_COUNT's proxies, reached us): browsers
    # ignore it on plain HTTP, and a development server must stay reachable.
    over_https = ([("Strict-Transport-Security", f"max-age={int(app.config['HSTS_MAX_AGE'])}")]
                  if app.config["HSTS_MAX_AGE"] else [])
    # Every page the portal renders shows a person's exams, scores or people, or leads to
    # them: no browser or proxy may keep a copy. Static files cache as usual.
    not_static = [("Cache-Control", "no-store")]

    @app.after_request
    def set_security_headers(response):
        wanted = always + over_https if request.is_secure else always
        if request.endpoint != "static":
            wanted = wanted + not_static
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        for name, value in wanted:
            if name.lower() not in present:
                headers.add(name, value)
        return response


def configure_templates(app: Flask) -> None:
    """What every template may use, whichever blueprint renders it."""
    from portal.results import claim
    from portal.vocabulary import AttemptStatus, CountingRule, ReportSource
    from portal.web import csrf_tokens, links
    from portal.web.formatting import TEMPLATE_FILTERS
    from portal.web.pagination import pager

    for name, function in TEMPLATE_FILTERS.items():
        app.add_template_filter(function, name)
    # Globals rather than a context processor: macros imported by a template see globals only.
    app.jinja_env.globals.update(AttemptStatus=AttemptStatus, ReportSource=ReportSource, CountingRule=CountingRule,
                                 claim=claim, pager=pager)
    links.init_app(app)  # base.html's URLs, built once
    csrf_tokens.init_app(app)  # the forms' token, signed once a minute per session


def configure_blueprints(app: Flask) -> None:
    from portal.web import admin, auth, errors, health, student
    from portal.web.testpress import browser_return, webhook

    app.url_map.converters["int"] = IdConverter  # before any rule is added: each binds its converter

    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(student.bp)
    app.register_blueprint(csrf.exempt(browser_return.bp))  # cross-site POST from Testpress, verified by hmac
    app.register_blueprint(csrf.exempt(webhook.bp))  # Testpress's signed POST, verified by its hash
    errors.register(app)


def configure_cli(app: Flask) -> None:
    from portal import cli

    cli.register(app)
