"""Serving an app on a real socket in a background thread, for browser and client tests."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def serving(app, host: str = "127.0.0.1"):
    """Serve `app` on `host` at a free port; yield its base URL (no trailing slash)."""
    server = make_server(host, 0, app, threaded=True)
    # A short poll keeps shutdown quick: each test server would otherwise cost half a second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"live-{app.name}", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
