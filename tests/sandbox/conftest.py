"""Fixtures for the sandbox's own tests: a fresh sandbox per test and a local webhook receiver."""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testpress_sandbox import create_app, faults
from testpress_sandbox.seed import init_db
from testpress_sandbox.webhooks import dispatcher


class WebhookReceiver:
    """A tiny HTTP server standing in for the portal's webhook endpoint.

    It answers with the queued ``statuses`` in turn, then 200, and keeps every body it got.
    """

    def __init__(self):
        self.bodies: list[bytes] = []
        self.statuses: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(body)
                self.send_response(receiver.statuses.popleft() if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/testpress/webhook"
        # A short poll keeps shutdown() (once per test) from waiting half a second.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = WebhookReceiver()
    yield running
    running.stop()


@pytest.fixture
def app(tmp_path, receiver):
    faults.reset()
    sandbox = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "sandbox-tests",
            "DATABASE": str(tmp_path / "sandbox.sqlite"),
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_BACKOFF": 0.01,
            "WEBHOOK_ATTEMPTS": 3,
        }
    )
    with sandbox.app_context():
        init_db()
    yield sandbox
    dispatcher(sandbox).stop()
    faults.reset()


@pytest.fixture
def client(app):
    return app.test_client()
