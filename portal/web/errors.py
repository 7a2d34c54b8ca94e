"""Friendly error pages (JSON for JSON clients) and no stack trace for anyone."""

import math
import time

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.core.database import DatabaseBusy
from portal.core.extensions import db, limiter
from portal.core.logs import logged_path
from portal.core.refusals import DomainError
from portal.web.inputs import BadInput

# Worded for whoever meets them, most often a student: what happened, and where to go next
# (each page also links back to the portal's home, the student's exams).
MESSAGES = {
    400: ("Bad request", "The portal could not understand what your browser sent. "
                         "Please go back, reload the page and try again."),
    401: ("Not logged in", "Please log in to see this page."),
    403: ("Not open to you", "You do not have access to this page. Your own exams and results "
                             "are on the portal's home page; if you think you should see this, "
                             "ask the institute's staff."),
    404: ("Page not found", "There is nothing at this address: the link may be old or mistyped. "
                            "Your exams and results are on the portal's home page."),
    405: ("Method not allowed", "This page cannot be used that way. Please go back and use the page's own buttons."),
    409: ("Changed at the same moment", "Another request changed the same thing at the same moment (a second "
                                         "press of the button, perhaps), so this one saved nothing. Please "
                                         "reload the page to see what was saved."),
    413: ("Too large", "What your browser sent is larger than the portal accepts."),
    429: ("Too many requests", "You are going a little fast. Please wait a moment and try again."),
    503: ("Try again shortly", "The portal is very busy and cannot do this just now. Nothing was lost: "
                               "please try again in a moment."),
    500: ("Something went wrong", "The portal hit an unexpected error. It has been logged and nothing was "
                                  "changed; please try again, and tell the institute's staff if it happens again."),
}


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(RateLimitExceeded, handle_rate_limited)
    app.register_error_handler(DatabaseBusy, handle_database_busy)
    app.register_error_handler(sa.exc.IntegrityError, handle_collision)
    app.register_error_handler(DomainError, handle_refusal)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def error_response(code: int, detail: str | None = None, back: tuple[str, str] | None = None):
    """The error page (or JSON) for `code`: `detail` replaces the code's own message, and
    `back` (url, label) offers a way onward beside the link to the portal's home."""
    title, message = MESSAGES.get(code, (f"Error {code}", "The request could not be completed."))
    if wants_json():
        return make_response(jsonify(error=title, detail=detail or message), code)
    page = render_template("errors/error.html", code=code, title=title, message=detail or message, back=back)
    return make_response(page, code)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"


def handle_csrf_error(error: CSRFError):
    current_app.logger.warning("csrf: %s %s refused: %s", request.method, logged_path(), error.description)
    return error_response(400, "This form has expired or was not sent by the portal. "
                               "Please go back, reload the page and try again.")


def handle_http_error(error: HTTPException):
    if error.code is None or error.code >= 500:
        return handle_unexpected_error(error)
    # Only our own BadInput carries a description written for the person who sent it.
    detail = error.description if isinstance(error, BadInput) else None
    if error.code in (400, 405, 413, 429):
        current_app.logger.info("http %s: %s %s%s", error.code, request.method, logged_path(),
                                f" ({detail})" if detail else "")
    response = error_response(error.code, detail)
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if error.code == 429 and error.response is not None and "Retry-After" in error.response.headers:
        response.headers["Retry-After"] = error.response.headers["Retry-After"]
    return response


def handle_database_busy(error: DatabaseBusy):
    """The recording lock stayed taken past the busy timeout: nothing was written."""
    db.session.rollback()
    current_app.logger.warning("busy: %s %s gave up waiting for the recording lock", request.method, logged_path())
    return error_response(503)


def handle_collision(error: sa.exc.IntegrityError):
    """A constraint refused a write that a concurrent request made first (a double submit
    that reached no lock): the other request's result stands, this one saved nothing."""
    db.session.rollback()
    current_app.logger.warning("collision: %s %s refused by a constraint: %s", request.method, logged_path(),
                               type(error.orig).__name__)
    return error_response(409)


def handle_refusal(refusal: DomainError):
    """A service refused the request as a whole and no view answered for it (the filters of a
    list, read by the domain, refusing a value no form offers): a 400 in the service's words,
    nothing written. A view that can show the refusal beside its field catches it itself."""
    db.session.rollback()
    current_app.logger.info("http 400: %s %s refused: %s", request.method, logged_path(), refusal)
    return error_response(400, str(refusal))


def handle_rate_limited(error: RateLimitExceeded):
    """A limit of ours was reached: say which, and when to try again (also as Retry-After)."""
    breached = limiter.current_limit
    return too_many(error.description, breached.reset_at if breached else time.time() + 60)


def too_many(description: str, reset_at: float):
    """The 429 page: `description`, and when to try again (epoch seconds; also as Retry-After)."""
    wait = max(1, math.ceil(reset_at - time.time()))
    current_app.logger.info("http 429: %s %s: %s; retry in %ss", request.method, logged_path(), description, wait)
    response = error_response(429, f"{description}. Please try again in {in_words(wait)}.")
    response.headers["Retry-After"] = str(wait)
    return response


def in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)  # Retry-After has the exact figure; a person wants a round one
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def handle_unexpected_error(error: Exception):
    # Roll back whatever the failed request half-wrote before rendering anything.
    db.session.rollback()
    original = getattr(error, "original_exception", None) or error
    if not isinstance(error, InternalServerError) or original is not error:
        current_app.logger.exception("unhandled error on %s %s", request.method, logged_path(),
                                     exc_info=original)
    return error_response(500)
