"""Exam webhooks: Testpress's signed JSON body, delivered by a background worker with retries.

Each try is logged (WebhookDelivery). Deliveries wait in a schedule ordered by due time, so a
retry backing off never holds up other webhooks, and faults can delay, duplicate or reorder them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Flask, current_app

from . import faults
from .models import COMPLETED, Attempt, WebhookDelivery, db, iso
from .signing import signed_webhook_body

STARTED = "started"
EXTENSION = "testpress_sandbox.webhooks"


def webhook_payload(attempt: Attempt, event: str) -> dict:
    """The body Testpress posts when ``attempt`` starts or completes, before it is hashed."""
    exam, user = attempt.exam, attempt.user
    completed = event == COMPLETED.lower()
    return {
        "username": user.username,
        "email": user.email,
        "user_id": user.id,
        "attempt_id": attempt.id,
        "attempt_state": event,
        "institute_attempt_id": _institute_attempt_id(attempt.institute_attempt_id),
        "exam": {
            "id": exam.id,
            "title": exam.title,
            "duration": exam.duration,
            "start_date": iso(exam.start_date),
            "end_date": iso(exam.end_date),
        },
        "total_count": attempt.total_count,
        "correct_answers_count": attempt.correct_answers_count if completed else 0,
        "incorrect_answers_count": attempt.incorrect_answers_count if completed else 0,
        "unanswered_answers_count": attempt.unanswered_count if completed else 0,
        "partial_correct_answers_count": 0,
        "score": attempt.score_text if completed else "0.00",
        "percentage": attempt.percentage_text if completed else "0.00",
        "key": current_app.config["PUBLIC_KEY"],
        "attempt_start_time": iso(attempt.started_at),
        "completed_on": iso(attempt.completed_at) if completed else None,
    }


def _institute_attempt_id(value: str | None) -> int | str | None:
    # Newer payloads type it as a number; a portal that sent text gets its text back.
    if value is not None and value.isdigit():
        return int(value)
    return value


def send_webhook(attempt: Attempt, event: str) -> None:
    """Queue the ``event`` webhook for ``attempt`` (already committed), applying any webhook faults."""
    url = current_app.config["WEBHOOK_URL"]
    if not url:
        return
    fault = faults.current()
    config = current_app.config
    body = signed_webhook_body(webhook_payload(attempt, event), config["PRIVATE_KEY"],
                               encoding=config["PERCENT_ENCODING"])
    dispatcher().submit(
        event,
        attempt.id,
        url,
        body,
        delay=fault.webhook_delay,
        duplicate=fault.webhook_duplicate,
        reorder=fault.webhook_reorder,
    )


def dispatcher(app: Flask | None = None) -> WebhookDispatcher:
    return (app or current_app).extensions[EXTENSION]


def wait_for_webhooks(app: Flask | None = None, timeout: float = 10.0) -> None:
    """Block until every queued webhook is delivered or has used up its tries.

    Raises TimeoutError after ``timeout`` seconds. A "started" webhook held back by the
    reorder fault is not waited for until its "completed" releases it.
    """
    if not dispatcher(app).wait_until_idle(timeout):
        raise TimeoutError(f"webhooks still being delivered after {timeout} seconds")


@dataclass(order=True)
class _Delivery:
    due: float
    sequence: int
    event: str = field(compare=False)
    attempt_id: int = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    try_number: int = field(default=1, compare=False)


class WebhookDispatcher:
    """A daemon thread, started on first use, posting scheduled webhooks and retrying with backoff."""

    def __init__(self, app: Flask):
        self._app = app
        self._changed = threading.Condition()
        self._schedule: list[_Delivery] = []
        self._sequence = itertools.count()
        self._unfinished = 0
        self._held_started: dict[int, tuple[str, bytes]] = {}
        self._worker: threading.Thread | None = None
        self._stopping = False
        # The portal is local: an HTTP(S)_PROXY meant for the outside world must not catch it.
        self._http = requests.Session()
        self._http.trust_env = False

    def submit(self, event, attempt_id, url, body, *, delay=0.0, duplicate=False, reorder=False) -> None:
        with self._changed:
            if reorder and event == STARTED:
                self._held_started[attempt_id] = (url, body)
                return
            due = time.monotonic() + delay
            copies = 2 if duplicate else 1
            for _ in range(copies):
                self._schedule_locked(_Delivery(due, next(self._sequence), event, attempt_id, url, body))
            held = self._held_started.pop(attempt_id, None) if event != STARTED else None
            if held is not None:
                for _ in range(copies):
                    self._schedule_locked(_Delivery(due, next(self._sequence), STARTED, attempt_id, *held))
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._worker.start()
            self._changed.notify_all()

    def _schedule_locked(self, delivery: _Delivery) -> None:
        if delivery.try_number == 1:
            self._unfinished += 1
        heapq.heappush(self._schedule, delivery)

    def wait_until_idle(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    @property
    def unfinished(self) -> int:
        return self._unfinished

    def stop(self) -> None:
        """End the worker (tests call it so no thread outlives its app)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5)

    def _next_due(self) -> _Delivery | None:
        with self._changed:
            while not self._stopping:
                wait = self._schedule[0].due - time.monotonic() if self._schedule else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._schedule)
                self._changed.wait(wait)
        return None

    def _run(self) -> None:
        while (delivery := self._next_due()) is not None:
            try:
                self._deliver(delivery)
            except Exception:
                # The worker must outlive any one bad delivery; the log says what went wrong.
                self._app.logger.exception("webhook worker failed on attempt %s", delivery.attempt_id)
                self._finish()

    def _deliver(self, delivery: _Delivery) -> None:
        config = self._app.config
        status, error = None, None
        try:
            response = self._http.post(
                delivery.url,
                data=delivery.body,
                headers={"Content-Type": "application/json", "User-Agent": "testpress-sandbox-webhooks"},
                timeout=config["WEBHOOK_TIMEOUT"],
            )
            status = response.status_code
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]

        delivered = status is not None and 200 <= status < 300
        last_try = delivery.try_number >= config["WEBHOOK_ATTEMPTS"]
        outcome = "delivered" if delivered else "failed" if last_try else "retrying"
        self._log(delivery, status, error, outcome)

        if delivered or last_try:
            self._finish()
            return
        backoff = config["WEBHOOK_BACKOFF"] * 2 ** (delivery.try_number - 1)
        with self._changed:
            delivery.try_number += 1
            delivery.due = time.monotonic() + backoff
            self._schedule_locked(delivery)
            self._changed.notify_all()

    def _finish(self) -> None:
        with self._changed:
            self._unfinished -= 1
            self._changed.notify_all()

    def _log(self, delivery: _Delivery, status: int | None, error: str | None, outcome: str) -> None:
        with self._app.app_context():
            db.session.add(
                WebhookDelivery(
                    event=delivery.event,
                    attempt_id=delivery.attempt_id,
                    url=delivery.url,
                    try_number=delivery.try_number,
                    status_code=status,
                    error=error,
                    outcome=outcome,
                    body=delivery.body.decode("utf-8"),
                )
            )
            db.session.commit()
