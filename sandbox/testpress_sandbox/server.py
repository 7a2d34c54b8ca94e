"""Running the sandbox as a real HTTP server in a background thread, for tests and the demo."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from . import create_app
from .seed import init_db
from .webhooks import dispatcher


@dataclass
class RunningSandbox:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread
    host: str = "localhost"

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://localhost:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.server.server_port}"

    def stop(self) -> None:
        """Stop serving and end the webhook worker (queued webhooks are dropped)."""
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()
        dispatcher(self.app).stop()


def start_in_thread(app: Flask | None = None, *, host: str = "localhost", port: int = 0) -> RunningSandbox:
    """Serve the sandbox (database initialised) on ``host``; port 0 picks a free one. Call ``stop()`` after."""
    app = app or create_app()
    with app.app_context():
        init_db()
    # Bound to 127.0.0.1 but named "localhost": clients that try ::1 first fall back to it, and the
    # browser sees a different site from a portal on 127.0.0.1, as in production.
    server = make_server("127.0.0.1" if host == "localhost" else host, port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="testpress-sandbox", daemon=True
    )
    thread.start()
    return RunningSandbox(app=app, server=server, thread=thread, host=host)
