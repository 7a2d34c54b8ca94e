"""The Testpress signing rules, as CONTRACT.md reads the docs.

Pure functions, values in and strings out, with no Flask import, so the portal and the
Testpress sandbox sign and verify with the very same code.

Every message is the pipe-joined, percent-encoded text of its values. How a value is
percent-encoded is a setting (``TESTPRESS_PERCENT_ENCODING``) because the docs never define it:
``quote`` (the default), ``quote_plus`` or ``none``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate
from urllib.parse import quote, quote_plus, urlencode

ENCODINGS = ("quote", "quote_plus", "none")

# Testpress samples carry 128 hex characters (SHA-512) although its sample code says sha256,
# so the digest is recognised by its length rather than trusted to a setting alone.
WEBHOOK_DIGEST_LENGTHS = {"sha512": 128, "sha256": 64}
# The documented payload nests two levels (the exam object); json.loads has no limit of its
# own and raises RecursionError near a thousand, which a 1 KB body reaches.
MAX_WEBHOOK_DEPTH = 20
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)  # possessive: no backtracking
_JSON_BRACKET = re.compile(r"[\[\]{}]")

# The values the webhook hash covers, as payload keys; the private key is spliced in after
# the third. The docs call the sixth one ``unanswered_count``, the payload ``unanswered_answers_count``.
WEBHOOK_SIGNED_FIELDS = (
    "key",
    "attempt_id",
    "correct_answers_count",
    "incorrect_answers_count",
    "unanswered_answers_count",
    "percentage",
    "score",
    "user_id",
)


class WebhookError(ValueError):
    """A webhook body that must be refused; the message says why, and never holds a secret."""


class WebhookMalformed(WebhookError):
    """The body is not a JSON object."""


class WebhookMissingFields(WebhookError):
    """The body lacks fields the hash covers."""

    def __init__(self, fields: Iterable[str]):
        self.fields = tuple(fields)
        super().__init__("missing field(s): " + ", ".join(self.fields))


class WebhookUnknownKey(WebhookError):
    """The body names an institute key other than ours (the portal answers 403)."""


class WebhookMissingHash(WebhookError):
    """The body has no hash to check."""


class WebhookHashLength(WebhookError):
    """The hash's length matches none of the accepted digests."""


class WebhookHashMismatch(WebhookError):
    """The hash does not match the body."""


def encode(value: object, encoding: str = "quote") -> str:
    """Percent-encode one value's text; ``None`` is the text ``"None"``, as Python prints it."""
    text = str(value)
    if encoding == "quote":
        return quote(text, safe="")
    if encoding == "quote_plus":
        return quote_plus(text, safe="")
    if encoding == "none":
        return text
    raise ValueError(f"unknown percent-encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def _time_text(time: int | float | str) -> str:
    # A float would print as "1763700000.0" and no longer match Testpress's integer seconds.
    if isinstance(time, float):
        return str(int(time))
    return str(time)


def _join(values: Iterable[object], encoding: str) -> str:
    return "|".join(encode(value, encoding) for value in values)


def _hex_hmac(secret: str | bytes, message: str, digest: str = "sha256") -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message.encode("utf-8"), getattr(hashlib, digest)).hexdigest()


def _same_hex(expected: str, given: object) -> bool:
    """Constant-time comparison that treats anything but a hex string of the right size as a miss."""
    if not isinstance(given, str) or len(given) != len(expected):
        return False
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forged value may hold some.
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8"))


def launch_message(*, email, first_name, institute_attempt_id, key, time, encoding: str = "quote") -> str:
    """The text the launch (and return) HMAC signs: the fields in alphabetical order."""
    return _join((email, first_name, institute_attempt_id, key, _time_text(time)), encoding)


def launch_hmac(secret, *, email, first_name, institute_attempt_id, key, time, encoding: str = "quote") -> str:
    """HMAC-SHA256 of the launch message, as hex; the return is signed the same way."""
    message = launch_message(
        email=email,
        first_name=first_name,
        institute_attempt_id=institute_attempt_id,
        key=key,
        time=time,
        encoding=encoding,
    )
    return _hex_hmac(secret, message)


def verify_launch_hmac(
    secret, given_hmac, *, email, first_name, institute_attempt_id, key, time, encoding: str = "quote"
) -> bool:
    """Whether ``given_hmac`` signs these launch (or return) values; a missing or garbled one is False."""
    expected = launch_hmac(
        secret,
        email=email,
        first_name=first_name,
        institute_attempt_id=institute_attempt_id,
        key=key,
        time=time,
        encoding=encoding,
    )
    return _same_hex(expected, given_hmac)


def review_message(*, attempt_id, institute_attempt_id, key, time, encoding: str = "quote") -> str:
    """The text the review HMAC signs; ``attempt_id`` is Testpress's id, sent as ``id``."""
    return _join((attempt_id, institute_attempt_id, key, _time_text(time)), encoding)


def review_hmac(secret, *, attempt_id, institute_attempt_id, key, time, encoding: str = "quote") -> str:
    """HMAC-SHA256 of the review message, as hex."""
    message = review_message(
        attempt_id=attempt_id, institute_attempt_id=institute_attempt_id, key=key, time=time, encoding=encoding
    )
    return _hex_hmac(secret, message)


def verify_review_hmac(
    secret, given_hmac, *, attempt_id, institute_attempt_id, key, time, encoding: str = "quote"
) -> bool:
    """Whether ``given_hmac`` signs these review values; a missing or garbled one is False."""
    expected = review_hmac(
        secret, attempt_id=attempt_id, institute_attempt_id=institute_attempt_id, key=key, time=time, encoding=encoding
    )
    return _same_hex(expected, given_hmac)


def review_url(base_url: str, secret, *, attempt_id, institute_attempt_id, key, time, encoding: str = "quote") -> str:
    """Testpress's signed review URL for one attempt, carrying all five documented parameters."""
    signature = review_hmac(
        secret, attempt_id=attempt_id, institute_attempt_id=institute_attempt_id, key=key, time=time, encoding=encoding
    )
    query = urlencode(
        [
            ("id", str(attempt_id)),
            ("institute_attempt_id", str(institute_attempt_id)),
            ("key", str(key)),
            ("time", _time_text(time)),
            ("hmac", signature),
        ],
        quote_via=quote,
    )
    return f"{base_url.rstrip('/')}/exams/attempts/?{query}"


def webhook_message(values: Mapping[str, object], private_key: str, *, encoding: str = "quote") -> str:
    """The text the webhook hash signs, from the payload's texts of the signed fields."""
    ordered = [values[name] for name in WEBHOOK_SIGNED_FIELDS]
    ordered.insert(3, private_key)
    return _join(ordered, encoding)


def webhook_hash(
    values: Mapping[str, object], private_key: str, *, algorithm: str = "sha512", encoding: str = "quote"
) -> str:
    """The webhook hash (HMAC keyed by the private key) over ``values``, the texts of the signed fields."""
    if algorithm not in WEBHOOK_DIGEST_LENGTHS:
        raise ValueError(f"unknown webhook algorithm {algorithm!r}; expected sha512 or sha256")
    return _hex_hmac(private_key, webhook_message(values, private_key, encoding=encoding), algorithm)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_webhook_body(raw: bytes | str) -> dict:
    """Parse a webhook body, keeping every number as the text it has in the body.

    Testpress hashes ``str()`` of its own values, so ``81.50`` must stay ``"81.50"`` and a
    ``null`` later signs as ``"None"``. Raises WebhookMalformed for anything but a JSON object.
    """
    try:
        text = raw.decode(json.detect_encoding(raw)) if isinstance(raw, bytes | bytearray) else raw
        if _nesting_depth(text) > MAX_WEBHOOK_DEPTH:
            raise WebhookMalformed(f"JSON body is nested deeper than {MAX_WEBHOOK_DEPTH} levels")
        payload = json.loads(text, parse_int=str, parse_float=str, parse_constant=_reject_constant)
    except WebhookMalformed:
        raise
    except (ValueError, TypeError) as error:
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors; say which without echoing the body.
        raise WebhookMalformed(f"malformed JSON body: {type(error).__name__}") from None
    if not isinstance(payload, dict):
        raise WebhookMalformed("JSON body is not an object")
    try:
        # JSON's "\\ud800" escapes a lone surrogate, a string no UTF-8 text (a database
        # column, a log) can hold: Testpress never sends one, so such a body is malformed.
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise WebhookMalformed("JSON body holds a string that is not valid Unicode") from None
    return payload


def _nesting_depth(text: str) -> int:
    """How deep the arrays and objects of JSON `text` nest, brackets inside strings aside.

    Counted before parsing, with two C-speed regular expressions, because the json module
    offers no depth limit. Malformed text gets some number; json.loads refuses it anyway.
    """
    brackets = _JSON_BRACKET.findall(_JSON_STRING.sub("", text))
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets), default=0)


def _accepted_algorithms(algorithms: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(algorithms, str):
        algorithms = algorithms.split(",")
    accepted = tuple(name.strip().lower() for name in algorithms if name.strip())
    unknown = [name for name in accepted if name not in WEBHOOK_DIGEST_LENGTHS]
    if unknown or not accepted:
        raise ValueError(f"webhook algorithms must be among sha512, sha256; got {list(algorithms)!r}")
    return accepted


def verify_webhook(
    raw_body: bytes | str,
    *,
    public_key: str,
    private_key: str,
    algorithms: Iterable[str] | str = ("sha512", "sha256"),
    encoding: str = "quote",
) -> dict:
    """Check a webhook body and return its payload, numbers kept as their text.

    The digest is chosen by the hash's length among ``algorithms``. Raises a WebhookError
    subclass saying why the body is refused: WebhookUnknownKey for a key other than
    ``public_key``, and WebhookMalformed, WebhookMissingFields, WebhookMissingHash,
    WebhookHashLength or WebhookHashMismatch for the rest.
    """
    accepted = _accepted_algorithms(algorithms)
    payload = parse_webhook_body(raw_body)

    missing = [name for name in WEBHOOK_SIGNED_FIELDS if name not in payload]
    if missing:
        raise WebhookMissingFields(missing)
    if not hmac.compare_digest(str(payload["key"]).encode("utf-8"), str(public_key).encode("utf-8")):
        raise WebhookUnknownKey("key is not this institute's public key")

    given = payload.get("hash")
    if given in (None, ""):
        raise WebhookMissingHash("missing hash")
    length = len(given) if isinstance(given, str) else None
    algorithm = next((name for name in accepted if WEBHOOK_DIGEST_LENGTHS[name] == length), None)
    if algorithm is None:
        expected_lengths = " or ".join(f"{WEBHOOK_DIGEST_LENGTHS[name]} ({name})" for name in accepted)
        found = f"{length} characters" if length is not None else "not a string"
        raise WebhookHashLength(f"hash is {found}; expected {expected_lengths} hex characters")

    values = {name: payload[name] for name in WEBHOOK_SIGNED_FIELDS}
    expected = webhook_hash(values, private_key, algorithm=algorithm, encoding=encoding)
    if not _same_hex(expected, given):
        raise WebhookHashMismatch(f"hash does not match the body ({algorithm})")
    return payload
