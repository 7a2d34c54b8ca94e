"""Testpress's four signatures, as the sandbox reads the contract.

Written from CONTRACT.md and the reference docs alone, never from the portal's signing module:
the sandbox is a second reading of the same text, so if either side misreads it the two stop
agreeing and the end-to-end tests fail, where a shared module would have agreed with itself.

Each rule is data (the fields it signs, in the docs' order, and the digests it knows); one
small class turns that into a message, a signature and a check. Values in, strings out: no
Flask here, so the golden vectors can pin it down without an app.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

# "Percentage encode the values" is all the docs say; the contract makes the reading a setting.
# safe="" because the docs give no character a pass: "/" is encoded like any other.
PERCENT_ENCODINGS: dict[str, Callable[[str], str]] = {
    "quote": lambda text: quote(text, safe=""),
    "quote_plus": lambda text: quote_plus(text, safe=""),
    "none": lambda text: text,
}

# The webhook message carries the private key itself, fourth, between two payload fields.
# A marker rather than a name, so no key in a posted body can stand in for the private key.
PRIVATE_KEY_SLOT = object()


@dataclass(frozen=True)
class SigningRule:
    """One of Testpress's signatures: ``fields`` in signing order, ``digests`` by hex length.

    The first digest is the one the sandbox signs with; any of them is accepted on a check,
    chosen by the length of the signature given (the webhook's docs name two).
    """

    fields: tuple[str | object, ...]
    digests: Mapping[int, str]

    def message(self, values: Mapping[str, object], *, secret: str | None = None, encoding: str = "quote") -> str:
        """The exact text that is signed. Raises KeyError for a missing field, ValueError for an
        unknown encoding. ``secret`` is needed only by a rule that signs its own key."""
        try:
            encode = PERCENT_ENCODINGS[encoding]
        except KeyError:
            known = ", ".join(PERCENT_ENCODINGS)
            raise ValueError(f"unknown percent-encoding {encoding!r}; use one of {known}") from None
        if PRIVATE_KEY_SLOT in self.fields and secret is None:
            raise ValueError("this rule signs its own key: pass secret=")
        in_order = (secret if name is PRIVATE_KEY_SLOT else values[name] for name in self.fields)
        # str() is the contract's reading for every value: text as is, a JSON null as "None".
        return "|".join(encode(str(value)) for value in in_order)

    def sign(
        self, secret: str, values: Mapping[str, object], *, encoding: str = "quote", digest: str | None = None
    ) -> str:
        """The hex HMAC of ``values``, keyed by ``secret``, with ``digest`` or the rule's first."""
        digest = digest or next(iter(self.digests.values()))
        if digest not in self.digests.values():
            raise ValueError(f"this rule is not signed with {digest}")
        text = self.message(values, secret=secret, encoding=encoding)
        return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), digest).hexdigest()

    def verify(self, secret: str, values: Mapping[str, object], signature: object, *, encoding: str = "quote") -> bool:
        """Whether ``signature`` signs ``values``; False for a missing field or a signature of
        the wrong type or length, or a value no UTF-8 text holds (a lone surrogate: nothing
        could have signed it). Compared in constant time."""
        if not isinstance(signature, str) or len(signature) not in self.digests:
            return False
        try:
            expected = self.sign(secret, values, encoding=encoding, digest=self.digests[len(signature)])
        except (KeyError, UnicodeEncodeError):
            return False
        # As bytes: compare_digest refuses a str with non-ASCII characters, which anyone can send.
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8"))


SHA256_ONLY = {hashlib.sha256().digest_size * 2: "sha256"}

# "Create an attempt by HMAC": the five fields in alphabetical order of their names.
LAUNCH = SigningRule(fields=("email", "first_name", "institute_attempt_id", "key", "time"), digests=SHA256_ONLY)

# The return to surl is signed "with the same algorithm as attempt creation", over the returned
# email, first_name and institute_attempt_id with the institute's key and the launch's time.
RETURN = LAUNCH

# "Review exam attempt by HMAC": id is Testpress's attempt id, the one the return carried.
REVIEW = SigningRule(fields=("id", "institute_attempt_id", "key", "time"), digests=SHA256_ONLY)

# The exam webhook's "hash". The docs call the sixth field unanswered_count, but the payload's
# key is unanswered_answers_count; they say SHA-512 in prose and sha256 in code, and real samples
# are 128 hex characters, so both are known and SHA-512 is what the sandbox sends.
WEBHOOK = SigningRule(
    fields=(
        "key",
        "attempt_id",
        "correct_answers_count",
        PRIVATE_KEY_SLOT,
        "incorrect_answers_count",
        "unanswered_answers_count",
        "percentage",
        "score",
        "user_id",
    ),
    digests={hashlib.sha512().digest_size * 2: "sha512", hashlib.sha256().digest_size * 2: "sha256"},
)


def webhook_texts(body: bytes | str) -> dict:
    """A webhook body with every number kept as the literal text it has in the body.

    The hash signs "the text it has in the JSON body": 81.50 must stay "81.50", which a float
    would turn into 81.5. Raises ValueError (json.JSONDecodeError) for a body that is not JSON.
    """
    return json.loads(body, parse_int=str, parse_float=str)


def signed_webhook_body(payload: Mapping[str, object], private_key: str, *, encoding: str = "quote") -> bytes:
    """``payload`` as the JSON body Testpress posts, with its SHA-512 ``hash`` added.

    The hash is computed over the body's own serialisation read back, so it signs exactly the
    texts the receiver will find there, whatever types the payload's values have.
    """
    texts = webhook_texts(json.dumps(dict(payload)))
    digest = WEBHOOK.sign(private_key, texts, encoding=encoding)
    return json.dumps({**payload, "hash": digest}).encode("utf-8")
