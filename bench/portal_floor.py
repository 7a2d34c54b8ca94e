"""The portal with one page more, for `pages_bench.py`: an empty page behind the login.

What it costs is what every logged-in page pays before its own work: the session cookie,
the person's row, the request log, the security headers, Flask and its extensions. Every
page's ratio to the bare route is bounded by this one's.
"""

from flask import Flask
from flask_login import login_required

EMPTY_PAGE = "/bench/empty"


def add_empty_page(app: Flask) -> Flask:
    @app.get(EMPTY_PAGE)
    @login_required
    def empty_page():
        return "ok"

    return app


def served() -> Flask:
    """gunicorn's factory (`bench.portal_floor:served()`): the production app of wsgi.py, plus the page."""
    from wsgi import app

    return add_empty_page(app)
