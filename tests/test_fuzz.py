"""Hypothesis fuzzing of every door a stranger or a careless hand can push: the return, the
webhook, the login form and the staff forms and filters.

Two properties, for every request: the portal never answers 5xx, and a request it does
not accept (anything but the door's success status: a 4xx, or the form shown again) writes
nothing, every table compared before and after, except the capped log of refused webhook
deliveries. The filters, being GETs, never write at all. Bounded: a few dozen examples per door, well under a minute.

Each test builds its app once (no function-scoped fixture under @given) and makes its
requests with no app context pushed, so that no request sees another's Flask `g`.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from portal import create_app
from portal.core.database import create_database_file
from portal.core.extensions import db
from portal.models import WebhookDelivery
from portal.testpress.signing import launch_hmac
from tests.conftest import TEST_SETTINGS
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_webhook import completed_payload, signed_body

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)),  # FUZZ_EXAMPLES=1000 for a deeper run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,  # no example database: the same bounded run every time
)
# The one thing a refused request may write: its row in the capped log of refused deliveries.
REFUSED_DELIVERY_LOG_SIZE = 30

STUDENT = {"email": "ravi+fuzz@example.com", "name": "Ravi Kumar"}
STAFF_EMAIL = "boss@example.com"

# -- values ------------------------------------------------------------------------------

NASTY_TEXTS = [
    "", " ", "0", "-1", "5_5", "+5", "1.0", "1e999", "NaN", "inf", "None", "null", "٥٥", "１２",
    str(2**63 - 1), str(2**63), str(2**64), "9" * 400, "\x00", "a\x00b", "%", "_", "%_%", "\\",
    "'; DROP TABLE users; --", "<script>alert(1)</script>", "\ud800", "a\udfffb", "\u202e", "😀" * 30,
    "x" * 5000, "javascript:alert(1)", "https://", "//evil.example", "\r\n", "[]", "{}",
]
# Whole numbers about the edges of a 32-bit (a row id on PostgreSQL) and a 64-bit column,
# where "out of range" and OverflowError live.
edge_numbers = st.one_of(st.integers(min_value=-2, max_value=2), st.integers(min_value=2**31 - 2, max_value=2**31 + 2),
                         st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
                         st.integers(min_value=2**64 - 1, max_value=2**64 + 1), st.integers(min_value=10**19))
texts = st.one_of(
    st.sampled_from(NASTY_TEXTS),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),  # surrogates and NULs too
    st.integers().map(str),
    edge_numbers.map(str),
    st.floats().map(str),
)


def url_quoted(text: str) -> str:
    """`text` percent-encoded, a lone surrogate as the bytes it would be (invalid UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def form_encoded(pairs) -> bytes:
    """An urlencoded body, repeated keys and lone surrogates kept."""
    return "&".join(f"{url_quoted(name)}={url_quoted(value)}" for name, value in pairs).encode()


def fields_around(valid: dict[str, str]):
    """Form fields near a valid submission, as (name, value) pairs: each field kept half the time,
    else changed to a random value, left out, or sent twice (the random value first, which is
    the one a form reads); and a few strangers' fields besides."""
    def variants(name: str, value: str):
        return st.just([(name, value)]) | st.one_of(
            texts.map(lambda other: [(name, other)]),
            st.just([]),
            texts.map(lambda other: [(name, other), (name, value)]),
        )

    return st.builds(
        lambda fields, strangers: [pair for field in fields for pair in field] + strangers,
        st.tuples(*(variants(name, value) for name, value in valid.items())),
        st.lists(st.tuples(texts, texts), max_size=3),
    )


FORM = "application/x-www-form-urlencoded"
# Half the time the right type, so that the fields reach the code behind the form.
CONTENT_TYPES = st.just(FORM) | st.sampled_from([
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data",  # without a boundary
    "multipart/form-data; boundary=xyz",
    "application/json",
    "text/plain",
    None,
])

# JSON values, nested and huge: whatever a stranger can send.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.integers(min_value=2**63 - 2, max_value=2**70), st.text(max_size=20), st.sampled_from(NASTY_TEXTS)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


# -- the app and its tables ----------------------------------------------------------------


class Portal:
    """An app with a student's launch and a staff member, and a view of every table."""

    def __init__(self, tmp_path):
        self.app = create_app({
            **TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/fuzz.sqlite",
            # Limits would answer 429 before the code under test runs: raise them out of the way.
            "LOGIN_RATE_LIMIT": "100000 per minute",
            "WEBHOOK_REFUSAL_RATE_LIMIT": "100000 per minute",
            "WEBHOOK_REFUSED_LOG_SIZE": REFUSED_DELIVERY_LOG_SIZE,
        })
        with self.app.app_context():
            create_database_file()
            db.create_all()
            student = make_user(STUDENT["email"], STUDENT["name"])
            make_staff(STAFF_EMAIL)
            exam = make_exam("Physics Mock 1", testpress_id=12)
            launch = make_attempt(student, exam)
            self.exam_id = exam.id
            self.reference = str(launch.institute_attempt_id)
            self.return_hmac = launch_hmac(
                TEST_SETTINGS["TESTPRESS_SECRET"], email=STUDENT["email"], first_name=STUDENT["name"],
                institute_attempt_id=self.reference, key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
                time=launch.launch_time,
            )
        self.staff = self.app.test_client()
        assert self.staff.post("/login", data={"email": STAFF_EMAIL, "password": PASSWORD}).status_code == 302

    def rows(self) -> dict[str, list]:
        """Every row of every table, but the refused deliveries' log (of which it checks the cap)
        and the throttling counters, whose counting every request is."""
        with self.app.app_context():
            deliveries = WebhookDelivery.__table__
            refused = db.session.scalar(sa.select(sa.func.count()).where(deliveries.c.verified.is_(False)))
            assert refused <= REFUSED_DELIVERY_LOG_SIZE
            everything = {table.name: sa.select(table) for table in db.metadata.sorted_tables
                          if table.name != "rate_limits"}
            everything[deliveries.name] = sa.select(deliveries).where(deliveries.c.verified.is_(True))
            return {
                name: sorted((tuple(row) for row in db.session.execute(query)), key=repr)
                for name, query in everything.items()
            }

    def check(self, send, accepted: tuple[int, ...] = ()):
        """Send one request; assert no 5xx, and no write at all unless its status is one of `accepted`."""
        before = self.rows()
        response = send()
        event(f"answered {response.status_code}")  # seen with pytest --hypothesis-show-statistics
        assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
        if response.status_code not in accepted:
            assert self.rows() == before, f"a refused request ({response.status_code}) wrote to the database"
        return response


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    return Portal(tmp_path_factory.mktemp("fuzz"))


# -- the browser return ----------------------------------------------------------------------


def return_fields(portal: Portal):
    """The return Testpress would send for the student's launch, signed."""
    return fields_around({
        "email": STUDENT["email"], "first_name": STUDENT["name"], "institute_attempt_id": portal.reference,
        "hmac": portal.return_hmac, "status": "completed", "attempt_id": "68701", "total_count": "5",
        "correct_count": "3", "incorrect_count": "1", "unanswered_count": "1", "score": "11.50",
        "max_score": "20", "percentage": "57.50", "rank": "2", "max_rank": "9",
    })


@FUZZ
@given(data=st.data(), method=st.sampled_from(["POST", "GET"]), content_type=CONTENT_TYPES)
def test_the_return_never_fails_and_a_refusal_writes_nothing(portal, data, method, content_type):
    body = form_encoded(data.draw(return_fields(portal)))
    client = portal.app.test_client()
    if method == "GET":
        portal.check(lambda: client.get("/testpress/return", query_string=body.decode()), accepted=(303,))
    else:
        headers = {"Content-Type": content_type} if content_type else {}
        portal.check(lambda: client.post("/testpress/return", data=body, headers=headers), accepted=(303,))


# -- the webhook -----------------------------------------------------------------------------


def with_duplicate_keys(payload: dict, extra: list[tuple[str, object]]) -> bytes:
    """JSON text holding some keys twice, which json.dumps cannot write."""
    text = json.dumps(payload)
    repeated = "".join(f", {json.dumps(key)}: {json.dumps(value)}" for key, value in extra)
    return (text[:-1] + repeated + "}").encode()


SIGNED_NAMES = ["attempt_id", "user_id", "email", "score", "percentage", "key", "correct_answers_count",
                "incorrect_answers_count", "unanswered_answers_count", "hash"]
UNSIGNED_NAMES = ["attempt_state", "institute_attempt_id", "exam", "total_count", "attempt_start_time",
                  "completed_on", "username"]

webhook_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    # A genuine signature over random values of the fields it covers...
    st.fixed_dictionaries({}, optional={name: json_values for name in SIGNED_NAMES[:-2]})
    .map(lambda changes: signed_body(completed_payload(**changes))),
    # ...or over the documented values, with random unsigned fields beside it.
    st.fixed_dictionaries({}, optional={name: json_values for name in UNSIGNED_NAMES})
    .map(lambda changes: signed_body(completed_payload(**changes))),
    st.builds(with_duplicate_keys,
              st.builds(lambda: json.loads(signed_body(completed_payload()))),
              st.lists(st.tuples(st.sampled_from(SIGNED_NAMES + UNSIGNED_NAMES), json_values), max_size=3)),
)


@FUZZ
@given(body=webhook_bodies, content_type=CONTENT_TYPES)
def test_the_webhook_never_fails_and_a_refusal_writes_only_its_log_row(portal, body, content_type):
    client = portal.app.test_client()
    headers = {"Content-Type": content_type} if content_type else {}
    response = portal.check(lambda: client.post("/testpress/webhook", data=body, headers=headers), accepted=(200,))
    assert response.is_json


@FUZZ
@given(depth=st.integers(min_value=21, max_value=10_000), shape=st.sampled_from([b"[]", b"{}"]),
       inside=st.binary(max_size=10))
def test_a_deeply_nested_webhook_body_is_refused_never_a_crash(portal, depth, shape, inside):
    # Past the limit of 20 and, from about a thousand, past json's own recursion limit.
    opening = b'{"a":' if shape == b"{}" else b"["
    body = opening * depth + inside + shape[1:] * depth
    client = portal.app.test_client()
    response = portal.check(lambda: client.post("/testpress/webhook", data=body,
                                                headers={"Content-Type": "application/json"}))
    assert response.status_code in (400, 413)


# -- logging in ------------------------------------------------------------------------------


@FUZZ
@given(pairs=fields_around({"email": STUDENT["email"], "password": PASSWORD, "remember": "y"}),
       next_target=texts, content_type=CONTENT_TYPES)
def test_the_login_form_never_fails_and_a_refusal_writes_nothing(portal, pairs, next_target, content_type):
    client = portal.app.test_client()
    headers = {"Content-Type": content_type} if content_type else {}
    query = form_encoded([("next", next_target)]).decode()
    portal.check(lambda: client.post("/login", query_string=query, data=form_encoded(pairs), headers=headers),
                 accepted=(302,))  # a login may rehash the password


# -- the staff's forms and filters -------------------------------------------------------------

exam_forms = (st.integers(min_value=1, max_value=2**63 - 1) | edge_numbers).flatmap(lambda testpress_id: fields_around({
    "title": "Maths Drill", "description": "Chapters 1-3", "exam_url": "https://inst.testpress.in/exams/run/maths/",
    "testpress_id": str(testpress_id), "opens_at": "2026-12-01T09:00", "closes_at": "2026-12-01T11:00",
    "published": "y",
}))
person_forms = st.integers(min_value=1).flatmap(lambda number: fields_around({
    "name": "Fuzz Person", "email": f"fuzz{number}@example.com", "password": "long enough", "is_staff": "y",
}))


@FUZZ
@given(pairs=exam_forms, edit=st.booleans(), content_type=CONTENT_TYPES)
def test_the_exam_form_never_fails_and_a_refusal_writes_nothing(portal, pairs, edit, content_type):
    url = f"/admin/exams/{portal.exam_id}/edit" if edit else "/admin/exams/new"
    headers = {"Content-Type": content_type} if content_type else {}
    portal.check(lambda: portal.staff.post(url, data=form_encoded(pairs), headers=headers), accepted=(302,))


@FUZZ
@given(pairs=person_forms, content_type=CONTENT_TYPES)
def test_the_add_person_form_never_fails_and_a_refusal_writes_nothing(portal, pairs, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    portal.check(lambda: portal.staff.post("/admin/people/new", data=form_encoded(pairs), headers=headers),
                 accepted=(302,))


ids = st.one_of(edge_numbers.filter(lambda number: number >= 0).map(str), texts.map(url_quoted))
PAGES_WITH_AN_ID = ["/admin/attempts/{}", "/attempts/{}", "/attempts/{}/review", "/admin/exams/{}/edit",
                    "/admin/people/{}", "/admin/people/{}/role", "/password/{}"]


@FUZZ
@given(data=st.data(),
       path=st.one_of(st.sampled_from(["/admin/attempts/", "/attempts/", "/admin/people/", "/admin/people/export.csv"]),
                      st.builds(str.format, st.sampled_from(PAGES_WITH_AN_ID), ids)))
def test_the_staff_pages_and_filters_never_fail_nor_write(portal, data, path):
    if path.startswith("/admin/people/"):
        fields = {"q": "asha", "role": "students", "status": "active", "batch": "1", "after": "1", "before": "1"}
    else:
        fields = {"exam": str(portal.exam_id), "status": "completed", "student": "ravi", "flagged": "1", "batch": "1",
                  "verified": "signed", "sort": "score", "dir": "asc", "from": "2026-11-20T10:00", "to": "2026-11-21",
                  "cursor": "WyJzY29yZSIsZmFsc2UsW1siZiIsIjUwLjAiXSxbImkiLCI3Il1dXQ"}
    pairs = data.draw(fields_around(fields))

    def send():
        response = portal.staff.get(path, query_string=form_encoded(pairs).decode())
        response.get_data()  # a streamed export runs its query while it is read
        return response

    response = portal.check(send)
    assert response.status_code in (200, 302, 400, 404)
