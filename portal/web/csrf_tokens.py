"""The CSRF token the templates write (`csrf_token()`), signed at most once a minute per session
rather than on every page.

Flask-WTF's token is the session's secret token signed with the time it was signed, and it
holds for WTF_CSRF_TIME_LIMIT (an hour) from then. Every page has a form (base.html's Log
out), and signing took about 45 µs of each, a twentieth of the exam list's own work
(bench/README.md). A token signed less than REUSE_SECONDS ago is written again instead: it
is the token the same session's pages carried a moment before, and it holds for all but that
much of its hour. The tokens are kept by the session's own secret, which only that session
holds: nothing of one session is ever written into another's page, and a new secret (a new
login, portal.web.auth) is a new key. Checking a submitted token is Flask-WTF's, unchanged.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import Flask, current_app, g, session
from flask_wtf.csrf import generate_csrf

REUSE_SECONDS = 60
KEPT = 4096  # sessions a worker keeps a token for; past that the oldest is signed again when next used
FIELD = "csrf_token"  # Flask-WTF's default WTF_CSRF_FIELD_NAME, the portal's
_writing = threading.Lock()  # a threaded server's requests may add and drop at once


def init_app(app: Flask) -> None:
    """Give the templates `csrf_token()` in place of Flask-WTF's generate_csrf (which it gives
    them as a global and by a context processor: this one, added after it, wins), one store
    per app. Call after CSRFProtect.init_app."""
    app.extensions["portal.csrf_tokens"] = OrderedDict()
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: TEMPLATE_CONTEXT)


def csrf_token() -> str:
    """The request's CSRF token: one signed less than REUSE_SECONDS ago for this session's
    secret, or a newly signed one (generate_csrf, which also makes the secret if there is none)."""
    if FIELD in g:  # this request's, already written once
        return g.get(FIELD)
    secret = session.get(FIELD)
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    reuse = REUSE_SECONDS if limit is None else min(REUSE_SECONDS, limit / 60)
    tokens: OrderedDict[str, tuple[str, float]] = current_app.extensions["portal.csrf_tokens"]
    now = time.monotonic()
    kept = tokens.get(secret) if secret is not None else None
    if kept is not None and now - kept[1] < reuse:
        setattr(g, FIELD, kept[0])  # generate_csrf (a form's hidden_tag) answers the same in this request
        return kept[0]
    token = generate_csrf()
    secret = session[FIELD]  # made by generate_csrf if the session had none
    with _writing:
        tokens[secret] = (token, now)
        tokens.move_to_end(secret)
        while len(tokens) > KEPT:
            tokens.popitem(last=False)
    return token


TEMPLATE_CONTEXT = {"csrf_token": csrf_token}  # what the context processor adds, the same dict each time
