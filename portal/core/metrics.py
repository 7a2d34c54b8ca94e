"""What an operator watches on exam day, as Prometheus metrics (`prometheus-client`).

Under gunicorn every worker is its own process: prometheus-client's multiprocess mode has
each write its values to files in one folder (PROMETHEUS_MULTIPROC_DIR, which
gunicorn.conf.py sets up before any worker starts), and /metrics sums them over the workers.
Without that folder (the development server, the tests) the values are the process's own.

Every name starts with `portal_`. Labels are bounded: an endpoint's name, never a path (a
path can hold a token, and there are as many as there are ids).
"""

from __future__ import annotations

import os
import time

from flask import Flask, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("portal_requests", "Requests answered, by endpoint and status.", ["endpoint", "method", "status"])
LATENCY = Histogram("portal_request_seconds", "Time to answer a request, by endpoint.", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
WEBHOOKS = Counter("portal_webhook_deliveries", "Webhook deliveries, by the outcome answered to Testpress.",
                   ["outcome"])
BUSY = Counter("portal_busy", "Writes that gave up waiting for the recording lock (each answered 503).")
LOCK_WAIT = Histogram("portal_recording_lock_wait_seconds", "Time a write transaction waited for its locks.",
                      buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SYNC_PAGES = Counter("portal_sync_pages", "Pages of the Admin API's attempts recorded by the sync.")
SYNC_LAST_SUCCESS = Gauge("portal_sync_last_success_timestamp_seconds", "When a sync run last ended well.",
                          multiprocess_mode="max")
LOGIN_REFUSALS = Counter("portal_login_refusals", "Logins refused, by why.", ["reason"])


def init_app(app: Flask) -> None:
    """Count each request once answered. Registered after portal.core.logs, whose start_request
    stamps the request's start (g.request_started): the latency is timed from that one stamp."""
    app.after_request(_answered)


def _answered(response):
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "none"
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    if (started := g.get("request_started")) is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    return response


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, summed over gunicorn's workers, and their type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
