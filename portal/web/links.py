"""The URLs base.html writes on every page (its stylesheet and scripts, the menu's links),
looked up rather than built each time.

A `url_for` is about 25 Python calls, and base.html made ten on every page: a fifth of the
exam list's own work (bench/README.md). These URLs take no arguments, so they depend on
nothing of a request but the path the portal is served under (`request.script_root`, the
server's SCRIPT_NAME): each is built by `url_for` on its first use under a path, and kept
for that path. Nothing of a person is in them.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, has_request_context, request, url_for

# The paths a worker keeps URLs for. A deployment has one; past a few (a client able to set
# SCRIPT_NAME, say), the oldest path's URLs are dropped and built again when next used.
MOUNT_PATHS = 4


class Links(dict):
    """`links['auth.home']`: url_for(endpoint), built on first use under this request's path."""

    def __missing__(self, endpoint: str) -> str:
        url = self[endpoint] = url_for(endpoint)
        return url


class Assets(dict):
    """`assets['style.css']`: url_for('static', filename=...), built on first use."""

    def __missing__(self, filename: str) -> str:
        url = self[filename] = url_for("static", filename=filename)
        return url


def init_app(app: Flask) -> None:
    """Give every template rendered in a request `links` and `assets`."""

    # Per app (each has its own routes), per path the portal is served under.
    @lru_cache(maxsize=MOUNT_PATHS)
    def under(script_root: str) -> dict[str, dict]:
        return {"links": Links(), "assets": Assets()}

    app.extensions["portal.links"] = under

    @app.context_processor
    def fixed_urls() -> dict[str, dict]:
        # A template rendered outside a request (an email) has no path to build URLs under.
        return under(request.script_root) if has_request_context() else {}


def link(endpoint: str) -> str:
    """url_for(endpoint), for an endpoint of no arguments, from the links base.html writes: for
    a view that builds its rows' links from one prefix ("/attempts/" and the id)."""
    return current_app.extensions["portal.links"](request.script_root)["links"][endpoint]
