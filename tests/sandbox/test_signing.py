"""The sandbox's own reading of the signing rules, pinned to the same golden vectors as the portal's.

Nothing here imports the portal: these vectors are the only thing the two readings share.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from testpress_sandbox import signing
from testpress_sandbox.signing import LAUNCH, RETURN, REVIEW, WEBHOOK
from tests import CHECKOUT

VECTORS = json.loads((Path(__file__).parent.parent / "vectors.json").read_text(encoding="utf-8"))
SANDBOX_PACKAGE = CHECKOUT / "sandbox" / "testpress_sandbox"


def vector_id(vector):
    return vector["name"]


@pytest.mark.parametrize("vector", VECTORS["launch"], ids=vector_id)
@pytest.mark.parametrize("rule", [LAUNCH, RETURN], ids=["launch", "return"])
def test_launch_and_return_vectors(rule, vector):
    fields, secret, encoding = vector["fields"], vector["secret"], vector["encoding"]
    assert rule.message(fields, encoding=encoding) == vector["message"]
    assert rule.sign(secret, fields, encoding=encoding) == vector["digest"]
    assert rule.verify(secret, fields, vector["digest"], encoding=encoding)


@pytest.mark.parametrize("vector", VECTORS["review"], ids=vector_id)
def test_review_vectors(vector):
    fields, secret, encoding = vector["fields"], vector["secret"], vector["encoding"]
    assert REVIEW.message(fields, encoding=encoding) == vector["message"]
    assert REVIEW.sign(secret, fields, encoding=encoding) == vector["digest"]
    assert REVIEW.verify(secret, fields, vector["digest"], encoding=encoding)


@pytest.mark.parametrize("vector", VECTORS["webhook"], ids=vector_id)
def test_webhook_vectors(vector):
    payload = signing.webhook_texts(vector["body"].encode("utf-8"))
    private_key, encoding = vector["private_key"], vector["encoding"]
    assert WEBHOOK.message(payload, secret=private_key, encoding=encoding) == vector["message"]
    assert WEBHOOK.sign(private_key, payload, encoding=encoding, digest=vector["algorithm"]) == vector["digest"]
    assert payload["hash"] == vector["digest"]
    # The digest is chosen by the hash's length alone.
    assert WEBHOOK.verify(private_key, payload, payload["hash"], encoding=encoding)


def test_the_sandbox_sends_the_documented_sample_byte_for_byte():
    """Re-signing the documented sample's payload gives back the vector's body, hash and all."""
    [vector] = [v for v in VECTORS["webhook"] if v["algorithm"] == "sha512" and v["name"].startswith("documented")]
    payload = json.loads(vector["body"])
    del payload["hash"]
    assert signing.signed_webhook_body(payload, vector["private_key"]) == vector["body"].encode("utf-8")


def test_typed_numbers_are_signed_as_the_body_writes_them():
    [vector] = [v for v in VECTORS["webhook"] if v["name"].startswith("typed")]
    payload = json.loads(vector["body"])
    del payload["hash"]
    body = signing.signed_webhook_body(payload, vector["private_key"])
    assert json.loads(body)["hash"] == vector["digest"]
    assert json.loads(body)["user_id"] == 311  # still a number in the body, only its text was signed


def test_a_null_is_signed_as_none_and_a_missing_field_never_verifies():
    fields = {"id": "1", "institute_attempt_id": None, "key": "k", "time": "5"}
    assert REVIEW.message(fields) == "1|None|k|5"
    signature = REVIEW.sign("secret", fields)
    del fields["institute_attempt_id"]
    assert not REVIEW.verify("secret", fields, signature)


def test_percent_encodings_differ_only_where_the_docs_are_silent():
    fields = {"email": "a+b@x.org", "first_name": "Zoë Ann/Lee", "institute_attempt_id": "7", "key": "k", "time": "1"}
    assert LAUNCH.message(fields, encoding="quote") == "a%2Bb%40x.org|Zo%C3%AB%20Ann%2FLee|7|k|1"
    assert LAUNCH.message(fields, encoding="quote_plus") == "a%2Bb%40x.org|Zo%C3%AB+Ann%2FLee|7|k|1"
    assert LAUNCH.message(fields, encoding="none") == "a+b@x.org|Zoë Ann/Lee|7|k|1"
    with pytest.raises(ValueError, match="unknown percent-encoding"):
        LAUNCH.message(fields, encoding="rfc3986")


@pytest.mark.parametrize("signature", [None, 12345, "", "ab" * 16, "ab" * 48, "0" * 64, "é" * 64, "é" * 128])
def test_signatures_of_the_wrong_type_length_or_value_are_refused(signature):
    fields = {"id": "1", "institute_attempt_id": "2", "key": "k", "time": "5"}
    assert not REVIEW.verify("secret", fields, signature)
    assert not WEBHOOK.verify("secret", {**fields, **WEBHOOK_SAMPLE}, signature)


def test_launch_and_review_accept_only_sha256():
    fields = {"id": "1", "institute_attempt_id": "2", "key": "k", "time": "5"}
    with pytest.raises(ValueError, match="sha512"):
        REVIEW.sign("secret", fields, digest="sha512")


def test_the_webhook_message_needs_the_private_key():
    with pytest.raises(ValueError, match="secret="):
        WEBHOOK.message(WEBHOOK_SAMPLE)


# --- properties: any changed byte of a signed value, or of the signature, fails -------------

WEBHOOK_SAMPLE = {
    "key": "sxe7uKykEUT7WSnh", "attempt_id": "9001", "correct_answers_count": "42", "incorrect_answers_count": "5",
    "unanswered_answers_count": "3", "percentage": "81.50", "score": "163.00", "user_id": "311",
}
texts = st.text(min_size=0, max_size=40)
ENCODINGS = st.sampled_from(sorted(signing.PERCENT_ENCODINGS))


def changed(text: str, data) -> str:
    """``text`` with one character replaced, inserted or removed."""
    if text and data.draw(st.booleans(), label="replace rather than insert"):
        position = data.draw(st.integers(0, len(text) - 1), label="position")
        other = data.draw(st.characters().filter(lambda c: c != text[position]), label="replacement")
        return text[:position] + other + text[position + 1:]
    position = data.draw(st.integers(0, len(text)), label="position")
    return text[:position] + data.draw(st.characters(), label="inserted") + text[position:]


RULES = {
    "launch": (LAUNCH, st.fixed_dictionaries({name: texts for name in LAUNCH.fields})),
    "review": (REVIEW, st.fixed_dictionaries({name: texts for name in REVIEW.fields})),
    "webhook": (WEBHOOK, st.fixed_dictionaries({name: texts for name in WEBHOOK_SAMPLE})),
}


@pytest.mark.parametrize("rule_name", RULES)
@given(data=st.data(), secret=st.text(min_size=1, max_size=30), encoding=ENCODINGS)
def test_a_changed_value_fails_verification(rule_name, data, secret, encoding):
    rule, values_strategy = RULES[rule_name]
    values = data.draw(values_strategy, label="values")
    signature = rule.sign(secret, values, encoding=encoding)
    assert rule.verify(secret, values, signature, encoding=encoding)

    name = data.draw(st.sampled_from(sorted(values)), label="changed field")
    # Every encoding is one-to-one and the other fields stay put, so the message changes.
    tampered = {**values, name: changed(values[name], data)}
    assert not rule.verify(secret, tampered, signature, encoding=encoding)


@pytest.mark.parametrize("rule_name", RULES)
@given(data=st.data(), secret=st.text(min_size=1, max_size=30), encoding=ENCODINGS)
def test_a_changed_signature_or_secret_fails_verification(rule_name, data, secret, encoding):
    rule, values_strategy = RULES[rule_name]
    values = data.draw(values_strategy, label="values")
    signature = rule.sign(secret, values, encoding=encoding)
    position = data.draw(st.integers(0, len(signature) - 1), label="position")
    digit = data.draw(st.sampled_from("0123456789abcdef").filter(lambda c: c != signature[position]), label="digit")
    assert not rule.verify(secret, values, signature[:position] + digit + signature[position + 1:], encoding=encoding)
    other_secret = changed(secret, data)
    # HMAC pads its key with zero bytes, so "k" and "k\0" are one key: that is HMAC, not a bug.
    assume(other_secret.rstrip("\0") != secret.rstrip("\0"))
    assert not rule.verify(other_secret, values, signature, encoding=encoding)


@given(data=st.data())
def test_a_changed_digit_in_a_sent_webhook_body_fails_verification(data):
    """The body as the sandbox sends it, one digit of one signed number changed on the way."""
    body = signing.signed_webhook_body({**WEBHOOK_SAMPLE, "attempt_id": 9001, "user_id": 311}, "private")
    assert WEBHOOK.verify("private", signing.webhook_texts(body), json.loads(body)["hash"])

    name = data.draw(st.sampled_from(sorted(set(WEBHOOK_SAMPLE) - {"key"})), label="changed field")
    literal = re.search(rb'"%s": "?([0-9.]+)' % name.encode(), body)
    positions = [i for i in range(*literal.span(1)) if body[i:i + 1].isdigit()]
    position = data.draw(st.sampled_from(positions), label="position")
    # A number's first digit must stay non-zero, or the body is no longer JSON.
    digits = b"123456789" if position == literal.start(1) else b"0123456789"
    digit = data.draw(st.sampled_from(digits.replace(body[position:position + 1], b"")), label="digit")
    tampered = signing.webhook_texts(body[:position] + bytes([digit]) + body[position + 1:])
    assert not WEBHOOK.verify("private", tampered, tampered["hash"])


# --- independence ---------------------------------------------------------------------------


def test_nothing_in_the_sandbox_imports_the_portal():
    """Not even inside a function: the sandbox is a second reading, not the portal's echo."""
    imports = []
    for path in SANDBOX_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imports.append((path.name, node.module))
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"
            ):
                imports += [(path.name, arg.value) for arg in node.args if isinstance(arg, ast.Constant)]
    assert ("signing.py", "hmac") in imports  # the walk found the sandbox's own imports
    assert [(name, module) for name, module in imports if str(module).split(".")[0] in ("portal", "portal_demo")] == []
