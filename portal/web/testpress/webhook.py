"""The exam webhook: Testpress's signed report that an attempt started or completed.

POST /testpress/webhook answers JSON. A verified delivery answers 200 with
``{"status": "recorded" | "unchanged" | "unmatched"}`` (an unknown student or exam is
still accepted, so Testpress stops retrying, and shown to staff). A refused one answers
403 for another institute's key, 413 for a body over 64 KiB and 400 for anything else
malformed (JSON nested deeper than 20 levels included), and records nothing but its
WebhookDelivery row (only the latest few hundred are kept) and a log line; an address
sending many refused deliveries gets 429 for a while.

The work is a few local queries and one commit, with no outbound call, so Testpress
gets its answer in milliseconds.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from limits import parse as parse_rate
from sqlalchemy.exc import IntegrityError

from portal.attempts.reconciliation import record_report
from portal.core import metrics
from portal.core.clock import utcnow
from portal.core.database import DatabaseBusy, keyed_write
from portal.core.extensions import db, limiter
from portal.models import WebhookDelivery
from portal.testpress.matching import AttemptMatcher, recording_keys
from portal.testpress.reports import BadReport, ReportedAttempt, from_webhook
from portal.testpress.settings import testpress_settings
from portal.testpress.signing import WebhookError, WebhookUnknownKey, parse_webhook_body, verify_webhook
from portal.vocabulary import ReportSource

bp = Blueprint("testpress_webhook", __name__)

MAX_BODY_BYTES = 64 * 1024
# A refused body is kept only this far: refusals come from anyone, and are many.
REFUSED_PAYLOAD_CHARS = 4096
# The `hash` of a body that is not JSON enough to parse, as text.
_HASH_IN_TEXT = re.compile(r'("hash"\s*:\s*)"[^"]*"')


# A delivery's outcome, as its log row keeps it (the staff log filters by these).
DELIVERY_OUTCOMES = ("recorded", "unchanged", "unmatched", "rejected")


@dataclass(frozen=True)
class DeliveryOutcome:
    status: int
    outcome: str  # recorded, unchanged, unmatched, rejected
    reason: str | None = None
    retry_after: int | None = None  # seconds, for a 429


@bp.post("/testpress/webhook")
def receive_webhook():
    """Verify and record one webhook delivery; never raises for bad input (4xx JSON instead)."""
    remote_addr = request.remote_addr
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        result = refuse_delivery(413, f"body of {request.content_length} bytes is over {MAX_BODY_BYTES}", remote_addr)
    else:
        # Read one byte past the limit: a chunked body has no Content-Length to check.
        raw_body = request.stream.read(MAX_BODY_BYTES + 1)
        if len(raw_body) > MAX_BODY_BYTES:
            result = refuse_delivery(413, f"body is over {MAX_BODY_BYTES} bytes", remote_addr, raw_body=raw_body)
        else:
            result = record_webhook_delivery(raw_body, remote_addr)
    metrics.WEBHOOKS.labels(result.outcome).inc()
    if result.status >= 400:
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else {}
        return jsonify(status="rejected", detail=result.reason), result.status, headers
    return jsonify(status=result.outcome)


def refuse_delivery(
    status: int, reason: str, remote_addr: str | None, *, testpress_attempt_id=None, attempt_state=None,
    raw_body: bytes | None = None,
) -> DeliveryOutcome:
    """Log a refused delivery (its row and a log line) and nothing else.

    Only the latest WEBHOOK_REFUSED_LOG_SIZE refused rows are kept, and an address past
    WEBHOOK_REFUSAL_RATE_LIMIT refusals gets 429 and no row at all, so junk cannot grow the
    database. A verified delivery never comes here, so it is never limited.
    """
    db.session.rollback()  # nothing of a refused delivery may ride along with its log row
    retry_after = _refusals_exceeded(remote_addr)
    if retry_after is not None:
        current_app.logger.warning("webhook delivery from %s refused (%s); too many refusals, answered 429",
                                   remote_addr, reason)
        return DeliveryOutcome(429, "rejected", "too many refused deliveries from this address", retry_after)
    line = _log_row(
        received_at=utcnow(),
        verified=False,
        outcome="rejected",
        reason=storable(reason[:300]),
        attempt_state=storable(attempt_state),
        testpress_attempt_id=storable(testpress_attempt_id),
        attempt_id=None,
        remote_addr=remote_addr,
        payload=stored_payload(raw_body, limit=REFUSED_PAYLOAD_CHARS) if raw_body is not None else None,
    )
    _forget_old_refusals(current_app.config["WEBHOOK_REFUSED_LOG_SIZE"])
    db.session.commit()
    log_delivery(line)
    return DeliveryOutcome(status, "rejected", reason)


def _refusals_exceeded(remote_addr: str | None) -> int | None:
    """Count one refusal for this address; the seconds until it may try again once past the limit.

    Counted here, once a delivery is known to be refused, and not with @limiter.limit: its
    check runs before the view, so it would also turn away a verified delivery from an
    address that had sent junk. Flask-Limiter's storage and strategy do the counting.
    """
    if not limiter.enabled:
        return None
    rate = parse_rate(current_app.config["WEBHOOK_REFUSAL_RATE_LIMIT"])
    address = remote_addr or "unknown"
    if limiter.limiter.hit(rate, "webhook-refusals", address):
        return None
    reset_at = limiter.limiter.get_window_stats(rate, "webhook-refusals", address).reset_time
    return max(1, math.ceil(reset_at - time.time()))


def _forget_old_refusals(keep: int) -> None:
    """Delete all but the newest `keep` refused deliveries, in the caller's transaction."""
    refused = sa.select(WebhookDelivery.id).where(WebhookDelivery.verified.is_(False))
    oldest_kept = refused.order_by(WebhookDelivery.id.desc()).offset(keep - 1).limit(1).scalar_subquery()
    db.session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.verified.is_(False), WebhookDelivery.id < oldest_kept)
    )


def record_webhook_delivery(raw_body: bytes, remote_addr: str | None) -> DeliveryOutcome:
    """Verify `raw_body`, fold it into its attempt and log the delivery, all in one commit."""
    settings = testpress_settings()
    try:
        payload = verify_webhook(
            raw_body,
            public_key=settings.public_key,
            private_key=settings.private_key,
            algorithms=settings.webhook_algorithms,
            encoding=settings.encoding,
        )
    except WebhookUnknownKey as error:
        return refuse_delivery(403, str(error), remote_addr, testpress_attempt_id=_best_effort_attempt_id(raw_body),
                               raw_body=raw_body)
    except WebhookError as error:
        return refuse_delivery(400, str(error), remote_addr, testpress_attempt_id=_best_effort_attempt_id(raw_body),
                               raw_body=raw_body)
    try:
        reported = from_webhook(payload)
    except BadReport as refused:
        return refuse_delivery(
            400, refused.reason, remote_addr,
            testpress_attempt_id=_short_text(payload.get("attempt_id")),
            attempt_state=_short_text(payload.get("attempt_state"), 16),
            raw_body=raw_body,
        )

    payload_kept = stored_payload(raw_body)

    def record() -> tuple:
        now = utcnow()
        outcome, attempt_id = _record(reported, now)
        line = _log_row(received_at=now, verified=True, outcome=outcome, reason=None,
                        attempt_state=reported.report.status, testpress_attempt_id=reported.testpress_attempt_id,
                        attempt_id=attempt_id, remote_addr=remote_addr, payload=payload_kept)
        return outcome, line

    try:
        outcome, line = keyed_write(record, keys=lambda: recording_keys([reported]))
    except DatabaseBusy:
        current_app.logger.warning(
            "webhook: database busy; asking Testpress to retry attempt %s", reported.testpress_attempt_id)
        return DeliveryOutcome(503, "rejected", "temporarily unable to store the delivery")
    except IntegrityError:
        # Under its locks nothing races this delivery: a stored row contradicts it for good,
        # and a retry would meet the same row. Refused, for staff to see, not retried forever.
        return refuse_delivery(409, "conflicts with an attempt already stored", remote_addr,
                               testpress_attempt_id=reported.testpress_attempt_id, raw_body=raw_body)
    log_delivery(line)
    return DeliveryOutcome(200, outcome)


def _record(reported: ReportedAttempt, now: datetime) -> tuple[str, int | None]:
    """Fold the report into its attempt and flush: the delivery's outcome and the attempt's id."""
    matcher = AttemptMatcher(ReportSource.WEBHOOK)
    with db.session.no_autoflush:
        matcher.load([reported])
        attempt = matcher.attempt_for(reported, now)
        if attempt is None:
            outcome = "unmatched"
        else:
            outcome = "recorded" if record_report(attempt, reported.report, now) else "unchanged"
        matcher.save()
    db.session.flush()  # a new attempt gets its id; a repeat has nothing to flush
    return outcome, attempt.id if attempt is not None else None


# The log row, by Core: an ORM object would cost a flush of its own (a repeat writes nothing else).
_ADD_DELIVERY = sa.insert(WebhookDelivery.__table__)


def _log_row(**values) -> tuple:
    """Insert a delivery's log row; answer its log line (never the hash or a key), for
    log_delivery once the row is committed."""
    delivery_id = db.session.execute(_ADD_DELIVERY, values).inserted_primary_key[0]
    level = logging.INFO if values["verified"] else logging.WARNING
    reason = values["reason"]
    return (level, "webhook delivery %s from %s: %s, verified=%s state=%s testpress_attempt=%s attempt=%s%s",
            delivery_id, values["remote_addr"], values["outcome"], values["verified"], values["attempt_state"],
            values["testpress_attempt_id"], values["attempt_id"], f" ({reason})" if reason else "")


def stored_payload(raw_body: bytes, *, limit: int | None = None) -> str:
    """The body as the delivery log keeps it for staff: its JSON as received, without the
    `hash` field, cut at `limit` characters; a body that is not a JSON object as its text.

    The hash is not a secret (it is a digest, and the private key that makes it is never in
    the body), but nothing the portal logs carries an hmac or a hash, so it is left out and
    the delivery's page says so. Should a body carry one of this installation's secrets
    (a sender's mistake), its value is blotted out too.
    """
    try:
        text = raw_body.decode(json.detect_encoding(raw_body), errors="replace")
    except LookupError:
        text = raw_body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text) if len(text) <= MAX_BODY_BYTES else None
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        payload.pop("hash", None)
        text = json.dumps(payload, ensure_ascii=False)
    else:
        text = _HASH_IN_TEXT.sub(r'\1"…"', text)
    settings = testpress_settings()
    for secret in (settings.secret, settings.private_key, settings.api_password):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[secret]")
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return storable(text)


def storable(text: str | None) -> str | None:
    """Text any database column takes, with what it cannot hold kept visible as an escape:
    JSON may spell a lone surrogate ("\\ud800") or a NUL ("\\u0000"), and a body that is
    not JSON may hold a NUL byte; no PostgreSQL text holds either (it refuses the row)."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def log_delivery(line: tuple) -> None:
    """Log the line `_log_row` answered, once its delivery is committed."""
    current_app.logger.log(*line)


def _short_text(value, limit: int = 32) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit]


def _best_effort_attempt_id(raw_body: bytes) -> str | None:
    """The attempt id of a refused body, for the staff log, when the body is readable at all."""
    try:
        return _short_text(parse_webhook_body(raw_body).get("attempt_id"))
    except WebhookError:
        return None
