"""Logging: one `dictConfig` for the whole process, and one line per request.

Each request gets an id (the proxy's, when it sends a short safe ``X-Request-ID``, else a
fresh one), sent back as ``X-Request-ID`` and carried by every line logged while the request
runs, so that one student's complaint finds its lines. The request line holds the method,
the path without its query string (the browser return's query carries the student's email,
name and hmac), the status, the duration and the user id: never a secret, token, password,
hmac or hash.
"""

from __future__ import annotations

import logging
import logging.config
import re
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, g, has_request_context, request

request_log = logging.getLogger("portal.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is taken only if it cannot smuggle anything into a log line or a header.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def default_logging() -> dict:
    """Every logger to stderr, each line with its time, level, logger and request id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the modules' loggers exist already, at import
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "filters": {"request_id": {"()": RequestIdFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request_id"],
            },
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            # At INFO and below SQLAlchemy logs every statement with its parameters and
            # rows: password hashes among them.
            "sqlalchemy": {"level": "WARNING"},
            # The development server's access line holds the whole URL, the return's hmac
            # included; portal.requests logs each request instead.
            "werkzeug": {"level": "WARNING"},
        },
    }


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged in (`-` outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(app: Flask) -> None:
    """Apply `LOGGING` (or `default_logging()`), and log every request in one line.

    Under pytest the test runner owns the handlers (its capture sits on the root logger),
    so only the loggers' levels are applied there: they are what keeps SQL parameters and
    full URLs out of the logs, in tests as in production.
    """
    config = app.config.get("LOGGING") or default_logging()
    if app.testing:
        config = {"version": 1, "disable_existing_loggers": False,
                  "loggers": {name: {"level": logger["level"]}
                              for name, logger in config.get("loggers", {}).items() if "level" in logger}}
    logging.config.dictConfig(config)

    app.before_request(start_request)
    app.after_request(log_request)


def start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
    g.request_started = time.perf_counter()


def log_request(response):
    # A request refused before start_request ran (none today) still gets an id.
    request_id = g.get("request_id") or secrets.token_hex(8)
    started = g.get("request_started")
    duration = f"{(time.perf_counter() - started) * 1000:.0f}ms" if started else "-"
    response.headers[REQUEST_ID_HEADER] = request_id
    request_log.info("request %s: %s %s %s %s user %s", request_id, request.method, logged_path(),
                     response.status_code, duration, _user_id())
    return response


# Routes whose path holds a secret (a one-time password link's token): their line shows the
# route's rule, "/password/<token>", instead.
SECRET_PATH_ENDPOINTS = {"auth.set_password"}


def logged_path() -> str:
    if request.endpoint in SECRET_PATH_ENDPOINTS and request.url_rule is not None:
        return request.url_rule.rule
    return request.path


# The same secrets as the web servers' access logs meet them, as raw request targets
# (gunicorn.conf.py and the demo's server write each target through loggable_target): a link's
# token in its path, and a GET return's query, which carries the student's email, name and hmac.
SECRET_PATH_SEGMENT = re.compile(r"(/password/)[^/?#]+")
PRIVATE_QUERY_PATHS = ("/testpress/return",)


def loggable_target(target: str) -> str:
    """A request target or URL (a Referer) as a log line may show it: a password link's token
    as "<token>", and no query or fragment where they carry the student's details."""
    parts = urlsplit(target)
    path = SECRET_PATH_SEGMENT.sub(r"\1<token>", parts.path)
    if any(parts.path == private or parts.path.endswith(private) for private in PRIVATE_QUERY_PATHS):
        parts = parts._replace(query="", fragment="")
    return urlunsplit(parts._replace(path=path))


def _user_id() -> str:
    # Flask-Login keeps the user it loaded for this request in g._login_user; reading it
    # there, rather than through current_user, spares a static file a database query.
    user = g.get("_login_user")
    return str(user.id) if user is not None and user.is_authenticated else "-"
