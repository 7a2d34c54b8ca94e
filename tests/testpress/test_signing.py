"""The signing rules against Testpress's golden vectors, and their properties."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.testpress import signing
from tests import VECTORS_FILE

VECTORS = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
SECRET = "s3cr3t-Hm4c+/="
PUBLIC_KEY = "sxe7uKykEUT7WSnh"
PRIVATE_KEY = "pr1v4te/Key+=="


def vector_id(vector):
    return vector["name"]


# --- golden vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["launch"], ids=vector_id)
def test_launch_vectors(vector):
    fields, encoding = vector["fields"], vector["encoding"]
    assert signing.launch_message(**fields, encoding=encoding) == vector["message"]
    assert signing.launch_hmac(vector["secret"], **fields, encoding=encoding) == vector["digest"]
    assert signing.verify_launch_hmac(vector["secret"], vector["digest"], **fields, encoding=encoding)


@pytest.mark.parametrize("vector", VECTORS["review"], ids=vector_id)
def test_review_vectors(vector):
    fields = dict(vector["fields"])
    fields["attempt_id"] = fields.pop("id")
    encoding = vector["encoding"]
    assert signing.review_message(**fields, encoding=encoding) == vector["message"]
    assert signing.review_hmac(vector["secret"], **fields, encoding=encoding) == vector["digest"]
    assert signing.verify_review_hmac(vector["secret"], vector["digest"], **fields, encoding=encoding)


@pytest.mark.parametrize("vector", VECTORS["webhook"], ids=vector_id)
def test_webhook_vectors(vector):
    payload = signing.parse_webhook_body(vector["body"].encode("utf-8"))
    values = {name: payload[name] for name in signing.WEBHOOK_SIGNED_FIELDS}
    encoding, private_key = vector["encoding"], vector["private_key"]

    assert signing.webhook_message(values, private_key, encoding=encoding) == vector["message"]
    digest = signing.webhook_hash(values, private_key, algorithm=vector["algorithm"], encoding=encoding)
    assert digest == vector["digest"] == payload["hash"]

    verified = signing.verify_webhook(
        vector["body"].encode("utf-8"), public_key=payload["key"], private_key=private_key, encoding=encoding
    )
    assert verified["attempt_id"] == payload["attempt_id"]


def test_review_url_carries_all_five_parameters_signed():
    url = signing.review_url(
        "https://institute.testpress.in/", SECRET, attempt_id=68701, institute_attempt_id=100101, key=PUBLIC_KEY,
        time=1763700000
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "institute.testpress.in", "/exams/attempts/")
    query = {name: values[0] for name, values in parse_qs(parts.query, strict_parsing=True).items()}
    assert query == {
        "id": "68701",
        "institute_attempt_id": "100101",
        "key": PUBLIC_KEY,
        "time": "1763700000",
        "hmac": "315e1e7472e3a39140ade7bb9cd1ee7463042fd8ff0c3528fb73f5dca0b331d2",
    }


def test_review_url_encodes_values_in_the_query():
    url = signing.review_url("http://localhost:5001", SECRET, attempt_id="1", institute_attempt_id="a&b=c", key="k+/",
                             time=5)
    query = parse_qs(urlsplit(url).query)
    assert query["institute_attempt_id"] == ["a&b=c"]
    assert query["key"] == ["k+/"]


# --- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("quote", "a%40b%20c%2Fd%2Be"),
        ("quote_plus", "a%40b+c%2Fd%2Be"),
        ("none", "a@b c/d+e"),
    ],
)
def test_encoding_modes(encoding, expected):
    assert signing.encode("a@b c/d+e", encoding) == expected


def test_none_signs_as_python_prints_it():
    assert signing.encode(None) == "None"


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="percent-encoding"):
        signing.encode("x", "urlsafe")


def test_integer_and_float_times_sign_like_their_integer_text():
    fields = dict(email="a@b.c", first_name="A", institute_attempt_id=1, key=PUBLIC_KEY)
    by_text = signing.launch_hmac(SECRET, **fields, time="1763700000")
    assert signing.launch_hmac(SECRET, **fields, time=1763700000) == by_text
    assert signing.launch_hmac(SECRET, **fields, time=1763700000.7) == by_text


# --- launch verification ----------------------------------------------------------------------

LAUNCH = dict(email="student@example.com", first_name="Asha", institute_attempt_id="100101", key=PUBLIC_KEY,
              time="1763700000")
LAUNCH_DIGEST = "b134eb7e25de033672e5a1b0592d86f84d939fc553424a599c299488904701ff"


@pytest.mark.parametrize("given_hmac", [None, "", "not-hex", LAUNCH_DIGEST[:-1], LAUNCH_DIGEST + "0", "é" * 64, 12345])
def test_garbled_launch_hmac_is_simply_false(given_hmac):
    assert signing.verify_launch_hmac(SECRET, given_hmac, **LAUNCH) is False


def test_upper_case_hex_is_still_the_same_digest():
    assert signing.verify_launch_hmac(SECRET, LAUNCH_DIGEST.upper(), **LAUNCH)


def test_launch_hmac_depends_on_the_secret():
    assert not signing.verify_launch_hmac("another secret", LAUNCH_DIGEST, **LAUNCH)


# --- properties -------------------------------------------------------------------------------

values = st.text(max_size=40)
encodings = st.sampled_from(signing.ENCODINGS)
launch_names = ("email", "first_name", "institute_attempt_id", "key", "time")


@settings(max_examples=150)
@given(fields=st.fixed_dictionaries({name: values for name in launch_names}), secret=values, encoding=encodings)
def test_launch_sign_verify_round_trip(fields, secret, encoding):
    digest = signing.launch_hmac(secret, **fields, encoding=encoding)
    assert signing.verify_launch_hmac(secret, digest, **fields, encoding=encoding)


@settings(max_examples=150)
@given(
    fields=st.fixed_dictionaries({name: values for name in launch_names}),
    changed=st.sampled_from(launch_names),
    replacement=values,
    encoding=encodings,
)
def test_any_changed_launch_value_fails(fields, changed, replacement, encoding):
    digest = signing.launch_hmac(SECRET, **fields, encoding=encoding)
    tampered = {**fields, changed: replacement}
    assert signing.verify_launch_hmac(SECRET, digest, **tampered, encoding=encoding) == (replacement == fields[changed])


def changed_hex_digit(digest: str, position: int, offset: int) -> str:
    digit = "0123456789abcdef"[(int(digest[position], 16) + offset) % 16]
    return digest[:position] + digit + digest[position + 1 :]


@given(position=st.integers(0, 63), offset=st.integers(1, 15))
def test_any_changed_launch_digest_digit_fails(position, offset):
    assert not signing.verify_launch_hmac(SECRET, changed_hex_digit(LAUNCH_DIGEST, position, offset), **LAUNCH)


@settings(max_examples=150)
@given(attempt_id=values, institute_attempt_id=values, key=values, time=values, encoding=encodings)
def test_review_sign_verify_round_trip(attempt_id, institute_attempt_id, key, time, encoding):
    fields = dict(attempt_id=attempt_id, institute_attempt_id=institute_attempt_id, key=key, time=time)
    digest = signing.review_hmac(SECRET, **fields, encoding=encoding)
    assert signing.verify_review_hmac(SECRET, digest, **fields, encoding=encoding)
    assert not signing.verify_review_hmac(SECRET, digest, **{**fields, "time": time + "0"}, encoding=encoding)


def signed_body(payload: dict, private_key=PRIVATE_KEY, algorithm="sha512", encoding="quote") -> bytes:
    """A webhook body as Testpress serialises it, hashed over the texts its values have there."""
    texts = {name: str(payload[name]) for name in signing.WEBHOOK_SIGNED_FIELDS}
    digest = signing.webhook_hash(texts, private_key, algorithm=algorithm, encoding=encoding)
    return json.dumps({**payload, "hash": digest}).encode("utf-8")


def sample_payload(**overrides) -> dict:
    payload = {
        "username": "asha",
        "email": "asha@example.com",
        "user_id": 311,
        "attempt_id": 9001,
        "attempt_state": "completed",
        "institute_attempt_id": 100101,
        "correct_answers_count": 42,
        "incorrect_answers_count": 5,
        "unanswered_answers_count": 3,
        "score": "163.00",
        "percentage": "81.50",
        "key": PUBLIC_KEY,
    }
    payload.update(overrides)
    return payload


def verify(body: bytes, **options):
    return signing.verify_webhook(body, public_key=PUBLIC_KEY, private_key=PRIVATE_KEY, **options)


webhook_texts = st.text(min_size=1, max_size=30)


@settings(max_examples=150)
@given(
    texts=st.fixed_dictionaries({name: webhook_texts for name in signing.WEBHOOK_SIGNED_FIELDS if name != "key"}),
    algorithm=st.sampled_from(["sha512", "sha256"]),
    encoding=encodings,
)
def test_webhook_round_trip_for_arbitrary_unicode(texts, algorithm, encoding):
    body = signed_body(sample_payload(**texts), algorithm=algorithm, encoding=encoding)
    payload = verify(body, encoding=encoding)
    assert {name: payload[name] for name in texts} == texts


@settings(max_examples=150)
@given(changed=st.sampled_from([n for n in signing.WEBHOOK_SIGNED_FIELDS if n != "key"]), suffix=webhook_texts)
def test_any_changed_webhook_value_fails(changed, suffix):
    payload = json.loads(signed_body(sample_payload()))
    payload[changed] = str(payload[changed]) + suffix
    with pytest.raises(signing.WebhookHashMismatch):
        verify(json.dumps(payload).encode())


@given(position=st.integers(0, 127), offset=st.integers(1, 15))
def test_any_changed_webhook_hash_digit_fails(position, offset):
    payload = json.loads(signed_body(sample_payload()))
    payload["hash"] = changed_hex_digit(payload["hash"], position, offset)
    with pytest.raises(signing.WebhookHashMismatch):
        verify(json.dumps(payload).encode())


# --- webhook: numbers as text, algorithm by length, refusals -----------------------------------


def test_numbers_keep_their_literal_text():
    payload = signing.parse_webhook_body(b'{"score": 163.50, "user_id": 7, "exam": {"id": 2}, "x": null}')
    assert payload == {"score": "163.50", "user_id": "7", "exam": {"id": "2"}, "x": None}


def test_a_typed_body_verifies_against_its_literal_texts():
    # 81.50 would become "81.5" through float(); the hash was made over "81.50".
    raw = signed_body(sample_payload(percentage="81.50")).replace(b'"81.50"', b"81.50")
    assert verify(raw)["percentage"] == "81.50"


def test_null_signed_as_none():
    assert verify(signed_body(sample_payload(score=None)))["score"] is None


@pytest.mark.parametrize("algorithm", ["sha512", "sha256"])
def test_algorithm_is_chosen_by_hash_length(algorithm):
    assert verify(signed_body(sample_payload(), algorithm=algorithm))["attempt_id"] == "9001"


def test_an_algorithm_not_accepted_is_refused_by_length():
    with pytest.raises(signing.WebhookHashLength, match="128"):
        verify(signed_body(sample_payload(), algorithm="sha256"), algorithms=("sha512",))


def test_accepted_algorithms_may_be_a_setting_string():
    assert verify(signed_body(sample_payload(), algorithm="sha256"), algorithms="sha512, sha256")


def test_unknown_algorithm_setting_is_a_configuration_error():
    with pytest.raises(ValueError, match="sha512, sha256"):
        verify(signed_body(sample_payload()), algorithms=("md5",))


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe\x00garbage", "malformed JSON"),
        (b'{"score": NaN}', "malformed JSON"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
    ],
)
def test_malformed_bodies(raw, reason):
    with pytest.raises(signing.WebhookMalformed, match=reason):
        verify(raw)


def test_missing_fields_are_named():
    payload = json.loads(signed_body(sample_payload()))
    del payload["score"], payload["user_id"]
    with pytest.raises(signing.WebhookMissingFields, match="score, user_id") as caught:
        verify(json.dumps(payload).encode())
    assert caught.value.fields == ("score", "user_id")


def test_unknown_key_has_its_own_error():
    body = signed_body(sample_payload(key="someone-else"))
    with pytest.raises(signing.WebhookUnknownKey):
        verify(body)


@pytest.mark.parametrize("hash_value", [None, ""])
def test_missing_hash(hash_value):
    payload = json.loads(signed_body(sample_payload()))
    payload["hash"] = hash_value
    with pytest.raises(signing.WebhookMissingHash):
        verify(json.dumps(payload).encode())
    del payload["hash"]
    with pytest.raises(signing.WebhookMissingHash):
        verify(json.dumps(payload).encode())


@pytest.mark.parametrize("hash_value", ["ab" * 20, "ab" * 100, ["a"] * 128, 12345])
def test_hash_of_no_accepted_length(hash_value):
    payload = json.loads(signed_body(sample_payload()))
    payload["hash"] = hash_value
    with pytest.raises(signing.WebhookHashLength):
        verify(json.dumps(payload).encode())


def test_wrong_private_key_is_a_mismatch():
    with pytest.raises(signing.WebhookHashMismatch):
        verify(signed_body(sample_payload(), private_key="not-the-key"))


def test_every_refusal_is_a_value_error():
    for error in (
        signing.WebhookMalformed,
        signing.WebhookMissingFields,
        signing.WebhookUnknownKey,
        signing.WebhookMissingHash,
        signing.WebhookHashLength,
        signing.WebhookHashMismatch,
    ):
        assert issubclass(error, signing.WebhookError)
    assert issubclass(signing.WebhookError, ValueError)


def test_webhook_body_depth_counts_brackets_outside_strings_only():
    inside_a_string = '{"note": "' + "[{" * 500 + '\\"]"}'
    assert signing.parse_webhook_body(inside_a_string.encode())["note"].startswith("[{[{")
    with pytest.raises(signing.WebhookMalformed, match="nested deeper than 20 levels"):
        signing.parse_webhook_body(b'{"a": ' + b"[" * 20 + b"]" * 20 + b"}")
    assert signing.parse_webhook_body(b'{"a": ' + b"[" * 19 + b"]" * 19 + b"}")["a"] == (
        [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]])
