"""POST /testpress/webhook: what Testpress sees in the answer, and what the portal stores."""

import json
import logging
import re
from datetime import datetime

import pytest
import requests
import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import Attempt, AttemptReport, UnmatchedReport, User, WebhookDelivery
from portal.testpress.signing import WEBHOOK_SIGNED_FIELDS, webhook_hash
from tests import VECTORS_FILE
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_user
from tests.live import serving

URL = "/testpress/webhook"
VECTORS = json.loads(VECTORS_FILE.read_text())["webhook"]
PRIVATE_KEY = TEST_SETTINGS["TESTPRESS_PRIVATE_KEY"]
PUBLIC_KEY = TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"]


def signed_body(payload: dict, *, algorithm="sha512", private_key=PRIVATE_KEY) -> bytes:
    """The body Testpress would send: hashed over the JSON text of each signed value."""
    texts = {name: json.dumps(payload[name]).strip('"') for name in WEBHOOK_SIGNED_FIELDS}
    digest = webhook_hash(texts, private_key, algorithm=algorithm)
    return json.dumps({**payload, "hash": digest}).encode()


def completed_payload(**changes) -> dict:
    payload = {
        "username": "asha",
        "email": "asha@example.com",
        "user_id": 311,
        "attempt_id": 9001,
        "attempt_state": "completed",
        "institute_attempt_id": None,
        "exam": {"id": 12, "title": "Physics Mock 1", "duration": "1:00:00"},
        "total_count": 50,
        "correct_answers_count": 42,
        "incorrect_answers_count": 5,
        "unanswered_answers_count": 3,
        "partial_correct_answers_count": 0,
        "score": "163.00",
        "percentage": "81.50",
        "key": PUBLIC_KEY,
        "attempt_start_time": "2025-11-20T09:00:00.000000Z",
        "completed_on": "2025-11-20T09:55:00.000000Z",
    }
    payload.update(changes)
    return payload


def started_payload(**changes) -> dict:
    return completed_payload(
        attempt_state="started", correct_answers_count=0, incorrect_answers_count=0,
        unanswered_answers_count=0, score="0.00", percentage="0.00", completed_on=None, **changes,
    )


def post(client, body: bytes | str, **headers):
    return client.post(URL, data=body, headers={"Content-Type": "application/json", **headers})


@pytest.fixture
def asha(app):
    return make_user("asha@example.com", "Asha")


@pytest.fixture
def physics(app):
    return make_exam("Physics Mock 1", testpress_id=12)


def attempts():
    return db.session.scalars(sa.select(Attempt)).all()


def deliveries():
    return db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


# -- verified deliveries ------------------------------------------------------------------


def test_launched_attempt_is_completed_by_its_institute_attempt_id(client, asha, physics):
    launch = make_attempt(asha, physics, institute_attempt_id=100101)

    response = post(client, signed_body(completed_payload(institute_attempt_id=100101)))

    assert response.status_code == 200
    assert response.get_json() == {"status": "recorded"}
    db.session.refresh(launch)
    assert (launch.status, launch.testpress_attempt_id, launch.score, launch.percentage) == (
        "completed", "9001", 163.0, 81.5)
    assert (launch.correct_count, launch.incorrect_count, launch.unanswered_count, launch.total_count) == (42, 5, 3, 50)
    assert launch.score_source == "webhook" and launch.verified
    assert launch.webhook_seen_at is not None
    [delivery] = deliveries()
    assert (delivery.verified, delivery.outcome, delivery.attempt_id, delivery.attempt_state) == (
        True, "recorded", launch.id, "completed")
    assert delivery.testpress_attempt_id == "9001"


def test_known_testpress_attempt_id_matches_without_institute_id(client, asha, physics):
    launch = make_attempt(asha, physics, testpress_attempt_id="9001", status="started")

    assert post(client, signed_body(completed_payload())).get_json() == {"status": "recorded"}

    assert [a.id for a in attempts()] == [launch.id]
    assert launch.status == "completed"


def test_attempt_taken_outside_the_portal_is_recorded_for_the_student_and_exam(client, asha, physics):
    response = post(client, signed_body(completed_payload()))

    assert response.get_json() == {"status": "recorded"}
    [attempt] = attempts()
    assert (attempt.student_id, attempt.exam_id, attempt.institute_attempt_id) == (asha.id, physics.id, None)
    assert attempt.status == "completed" and attempt.score == 163.0
    assert attempt.started_at.isoformat() == "2025-11-20T09:00:00"
    # The student's Testpress id is learnt from the email match.
    assert db.session.get(User, asha.id).testpress_user_id == 311


def test_open_launch_is_matched_by_student_and_exam_when_no_ids_are_known(client, asha, physics):
    # Real Testpress may leave institute_attempt_id out: the launch just before is the one.
    launch = make_attempt(asha, physics, started_at=datetime(2025, 11, 20, 8, 59))

    post(client, signed_body(completed_payload()))

    assert [a.id for a in attempts()] == [launch.id]
    assert launch.testpress_attempt_id == "9001" and launch.status == "completed"


def test_a_later_launch_is_not_taken_for_an_earlier_attempt(client, asha, physics):
    later = make_attempt(asha, physics, started_at=datetime(2025, 11, 21, 10, 0))

    post(client, signed_body(completed_payload()))

    assert len(attempts()) == 2
    assert later.testpress_attempt_id is None and later.status == "launched"


def test_student_is_found_by_testpress_user_id_after_an_email_change(client, physics):
    student = make_user("new-address@example.com", testpress_user_id=311)

    post(client, signed_body(completed_payload(email="old-address@example.com")))

    [attempt] = attempts()
    assert attempt.student_id == student.id


def test_documented_sample_payload_with_string_numbers_and_no_state(make_app):
    app = make_app()
    vector = VECTORS[0]
    with app.app_context():
        student = make_user("test_user@example.com")
        make_exam(testpress_id=2)
        response = post(app.test_client(), vector["body"])
        assert response.get_json() == {"status": "recorded"}
        [attempt] = attempts()
        assert (attempt.student_id, attempt.testpress_attempt_id, attempt.status) == (student.id, "93", "completed")
        assert (attempt.score, attempt.percentage, attempt.correct_count) == (50.0, 100.0, 50)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_every_golden_vector_is_accepted(client, vector):
    response = post(client, vector["body"])
    assert response.status_code == 200
    assert deliveries()[-1].verified


def test_sha256_hash_is_accepted(client, asha, physics):
    response = post(client, signed_body(completed_payload(), algorithm="sha256"))
    assert response.get_json() == {"status": "recorded"}


def test_sha256_is_refused_when_the_institute_accepts_only_sha512(make_app):
    app = make_app(TESTPRESS_WEBHOOK_ALGORITHMS="sha512")
    with app.app_context():
        response = post(app.test_client(), signed_body(completed_payload(), algorithm="sha256"))
        assert response.status_code == 400
        assert attempts() == []


def test_typed_numbers_with_decimal_text_are_verified_as_sent(client, asha, physics):
    # A bare 81.50 in the body is hashed as its text "81.50", not as Python's 81.5.
    payload = completed_payload()
    texts = {name: json.dumps(payload[name]).strip('"') for name in WEBHOOK_SIGNED_FIELDS}
    digest = webhook_hash(texts, PRIVATE_KEY)
    body = json.dumps({**payload, "hash": digest}).replace('"percentage": "81.50"', '"percentage": 81.50')

    response = post(client, body)

    assert response.get_json() == {"status": "recorded"}
    assert attempts()[0].percentage == 81.5


def test_the_webhook_does_not_need_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
        make_exam(testpress_id=12)
        assert post(app.test_client(), signed_body(completed_payload())).status_code == 200


def test_any_content_type_is_accepted(client, asha, physics):
    response = client.post(URL, data=signed_body(completed_payload()), content_type="text/plain")
    assert response.get_json() == {"status": "recorded"}


# -- idempotency, order and re-evaluation --------------------------------------------------


def test_duplicate_delivery_changes_nothing(client, asha, physics):
    body = signed_body(completed_payload())
    assert post(client, body).get_json() == {"status": "recorded"}
    before = db.session.scalar(sa.select(Attempt)).updated_at

    assert post(client, body).get_json() == {"status": "unchanged"}

    [attempt] = attempts()
    assert attempt.updated_at == before
    assert len(attempt.reports) == 1
    assert [d.outcome for d in deliveries()] == ["recorded", "unchanged"]


# The lock (SQLite's BEGIN IMMEDIATE; PostgreSQL's advisory locks and the read of their keys) apart:
LOCKING = ("BEGIN IMMEDIATE", "SET LOCAL", "SELECT pg_advisory", "SELECT attempts.student_id FROM")


def statements_of(client, body: bytes, expected: str) -> list[str]:
    """The statements one delivery runs, as their verb and table ("SELECT attempts"), the locking's left out."""
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_):
        statements.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert post(client, body).get_json() == {"status": expected}
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return [statement_name(text) for text in statements if not text.startswith(LOCKING)]


def statement_name(text: str) -> str:
    """The verb and the table of the statement's own FROM (not a subquery's)."""
    while (unbracketed := re.sub(r"\([^()]*\)", "", text)) != text:
        text = unbracketed
    named = re.match(r"(SELECT) .*? FROM (\w+)|(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+)", text)
    return " ".join(part for part in named.groups() if part)


def test_a_repeated_delivery_runs_the_statements_its_decision_needs_and_no_more(client, asha, physics, caplog):
    """A repeat (Testpress retrying) reads the attempt with its reports, its student and
    whether the attempt has an unmatched row in one statement, and writes only the delivery's
    log row. Before, it also read the reports, the student and the unmatched rows by
    statements of their own, ran a DELETE of unmatched rows no read had found, and read the
    delivery back after its commit to log it. (On PostgreSQL the locks and the keys' read
    come on top.)"""
    caplog.set_level(logging.INFO)
    body = signed_body(completed_payload())
    assert post(client, body).get_json() == {"status": "recorded"}

    run = statements_of(client, body, "unchanged")

    assert run == ["SELECT attempts", "INSERT webhook_deliveries"]
    [delivery] = [d for d in deliveries() if d.outcome == "unchanged"]
    assert f"webhook delivery {delivery.id} from" in caplog.text


def test_a_launchs_first_delivery_reads_what_a_repeat_does_and_writes_the_result_once(client, physics):
    """A launch's completion, its student known to Testpress: the repeat's one read, then the
    attempt, its report, its standing (written over the old row) and the exam's counts, and
    the log row. Before: 11 statements (the BEGIN included), now 7."""
    asha = make_user("asha@example.com", "Asha", testpress_user_id=311)
    launch = make_attempt(asha, physics)

    run = statements_of(client, signed_body(completed_payload(institute_attempt_id=launch.institute_attempt_id)),
                        "recorded")

    # (The two flush hooks, standings' and exam_stats', run in the order their modules were imported.)
    assert sorted(run) == sorted(["SELECT attempts", "UPDATE attempts", "INSERT attempt_reports",
                                  "INSERT standings", "INSERT exam_stats", "INSERT webhook_deliveries"])
    db.session.refresh(launch)
    assert (launch.status, launch.score, launch.testpress_attempt_id) == ("completed", 163.0, "9001")


def test_started_then_completed(client, asha, physics):
    post(client, signed_body(started_payload()))
    [attempt] = attempts()
    assert attempt.status == "started" and attempt.score is None

    post(client, signed_body(completed_payload()))

    db.session.refresh(attempt)
    assert attempt.status == "completed" and attempt.score == 163.0


def test_started_arriving_after_completed_never_reopens_the_attempt(client, asha, physics):
    post(client, signed_body(completed_payload()))
    post(client, signed_body(started_payload()))
    post(client, signed_body(completed_payload()))  # a duplicate of the completion, retried late
    post(client, signed_body(started_payload()))

    [attempt] = attempts()
    assert attempt.status == "completed"
    assert attempt.score == 163.0 and attempt.score_source == "webhook"
    assert [(r.status, r.score) for r in attempt.reports] == [("completed", 163.0), ("started", None)]


def test_re_evaluation_updates_scores_and_keeps_history(client, asha, physics):
    post(client, signed_body(completed_payload()))

    response = post(client, signed_body(completed_payload(
        correct_answers_count=44, incorrect_answers_count=3, score="173.00", percentage="86.50")))

    assert response.get_json() == {"status": "recorded"}
    [attempt] = attempts()
    assert (attempt.score, attempt.percentage, attempt.correct_count) == (173.0, 86.5, 44)
    assert [r.score for r in attempt.reports] == [163.0, 173.0]


def test_unknown_student_is_accepted_logged_and_shown_to_staff(client, physics, caplog):
    caplog.set_level(logging.INFO)
    body = signed_body(completed_payload(email="stranger@example.com", user_id=999))

    response = post(client, body)
    post(client, body)  # repeated: still one row for staff

    assert response.status_code == 200
    assert response.get_json() == {"status": "unmatched"}
    assert attempts() == []
    [row] = db.session.scalars(sa.select(UnmatchedReport)).all()
    assert (row.source, row.testpress_attempt_id, row.email, row.testpress_exam_id) == (
        "webhook", "9001", "stranger@example.com", 12)
    assert "stranger@example.com" in row.reason
    assert "hash" not in json.loads(row.payload)
    assert [d.outcome for d in deliveries()] == ["unmatched", "unmatched"]
    assert "unmatched" in caplog.text


def test_unknown_exam_is_unmatched(client, asha):
    assert post(client, signed_body(completed_payload())).get_json() == {"status": "unmatched"}
    [row] = db.session.scalars(sa.select(UnmatchedReport)).all()
    assert "Testpress id 12" in row.reason


def test_unmatched_row_goes_away_once_the_attempt_matches(client, asha):
    body = signed_body(completed_payload())
    post(client, body)
    make_exam(testpress_id=12)

    assert post(client, body).get_json() == {"status": "recorded"}

    assert db.session.scalars(sa.select(UnmatchedReport)).all() == []
    assert len(attempts()) == 1


def test_an_unmatched_row_of_a_found_attempt_goes_away_when_it_matches(client, asha, physics):
    """The attempt's read says whether one is there: the rows are read, and ended, only then."""
    launch = make_attempt(asha, physics)
    db.session.add(UnmatchedReport(source="api", testpress_attempt_id="9001", reason="no portal student",
                                   payload="{}"))
    db.session.commit()

    body = signed_body(completed_payload(institute_attempt_id=launch.institute_attempt_id))
    assert post(client, body).get_json() == {"status": "recorded"}

    assert db.session.scalars(sa.select(UnmatchedReport)).all() == []


def test_staff_page_lists_deliveries_and_unmatched_reports(client, auth, physics):
    from tests.factories import make_staff

    post(client, signed_body(completed_payload(email="stranger@example.com", user_id=999)))
    post(client, b"{not json")
    staff = make_staff()
    auth.login(staff.email)

    page = client.get("/admin/testpress/").get_data(as_text=True)

    assert "stranger@example.com" in page
    assert "Refused: it is not a report the portal can read" in page  # its reason in words; the code on its page


# -- refused deliveries --------------------------------------------------------------------


def refused(client, body, status):
    response = post(client, body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["status"] == "rejected"
    assert attempts() == []
    assert db.session.scalars(sa.select(AttemptReport)).all() == []
    assert db.session.scalars(sa.select(UnmatchedReport)).all() == []
    delivery = deliveries()[-1]
    assert (delivery.verified, delivery.outcome) == (False, "rejected")
    return delivery


def test_unknown_key_is_forbidden(client, asha, physics):
    payload = completed_payload(key="someone-elses-key")
    delivery = refused(client, signed_body(payload), 403)
    assert "key" in delivery.reason


def test_hash_mismatch_is_refused(client, asha, physics):
    body = signed_body(completed_payload()).replace(b'"score": "163.00"', b'"score": "200.00"')
    delivery = refused(client, body, 400)
    assert "does not match" in delivery.reason
    assert delivery.testpress_attempt_id == "9001"


def test_hash_with_another_private_key_is_refused(client, asha, physics):
    refused(client, signed_body(completed_payload(), private_key="wrong"), 400)


@pytest.mark.parametrize("hash_value", [None, "", "abc123", "0" * 100, 12345])
def test_missing_or_wrong_length_hash_is_refused(client, asha, physics, hash_value):
    payload = json.loads(signed_body(completed_payload()))
    if hash_value is None:
        del payload["hash"]
    else:
        payload["hash"] = hash_value
    refused(client, json.dumps(payload), 400)


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b'"text"', b"null", b"\xff\xfe", b'{"a": NaN}'])
def test_malformed_or_non_object_json_is_refused(client, body):
    refused(client, body, 400)


@pytest.mark.parametrize("field", ["attempt_id", "user_id", "correct_answers_count", "score", "key"])
def test_missing_signed_field_is_refused(client, field):
    payload = json.loads(signed_body(completed_payload()))
    del payload[field]
    delivery = refused(client, json.dumps(payload), 400)
    assert field in delivery.reason


@pytest.mark.parametrize("changes", [
    {"attempt_id": "93abc"},
    {"attempt_id": -5},
    {"attempt_id": True},
    {"user_id": 3.5},
    {"correct_answers_count": "many"},
    {"score": "high"},
    {"score": "NaN"},
    {"score": "1e999"},
    {"attempt_id": 9**40},
    {"percentage": None},
    {"attempt_state": "paused"},
    {"attempt_state": 1},
    {"email": ["asha@example.com"]},
    {"exam": {"id": "twelve"}},
])
def test_signed_but_ill_typed_payload_is_refused(client, asha, physics, changes):
    delivery = refused(client, signed_body(completed_payload(**changes)), 400)
    assert delivery.reason


def test_body_over_64_kib_is_refused(client):
    payload = completed_payload(padding="x" * 70_000)
    delivery = refused(client, signed_body(payload), 413)
    assert "over" in delivery.reason


def test_chunked_body_over_64_kib_is_refused_without_content_length(app):
    # A chunked body has no Content-Length: the limit must hold while reading.
    def chunks():
        yield b'{"padding": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    with serving(app) as base_url:
        response = requests.post(base_url + URL, data=chunks(), timeout=10)

    assert response.status_code == 413
    assert deliveries()[-1].outcome == "rejected"


def test_logs_never_hold_the_hash_or_private_key(client, asha, physics, caplog):
    caplog.set_level(logging.DEBUG)
    body = signed_body(completed_payload())
    digest = json.loads(body)["hash"]
    post(client, body)
    post(client, body.replace(b"163.00", b"200.00"))

    assert "webhook delivery" in caplog.text
    assert digest not in caplog.text
    assert PRIVATE_KEY not in caplog.text
    for delivery in deliveries():
        assert digest not in (delivery.reason or "")


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


# -- junk: depth, rate and the size of the refused log ---------------------------------------


def test_deeply_nested_json_is_a_400_with_one_log_line(client, caplog):
    body = b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}"  # about 2 KB, past json's recursion limit
    caplog.set_level(logging.INFO)

    delivery = refused(client, body, 400)

    assert delivery.reason == "JSON body is nested deeper than 20 levels"
    lines = [record for record in caplog.records if record.name == "portal"]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "nested deeper than 20 levels" in lines[0].getMessage()


def test_nesting_up_to_the_limit_is_accepted(client, asha, physics):
    nested = "leaf"
    for _ in range(19):  # 19 objects inside the payload object: 20 levels in all
        nested = {"n": nested}
    response = post(client, signed_body(completed_payload(extra=nested)))
    assert response.status_code == 200 and response.get_json()["status"] == "recorded"
    too_deep = post(client, signed_body(completed_payload(attempt_id=9002, extra={"n": nested})))
    assert too_deep.status_code == 400


def test_an_address_sending_junk_is_limited_but_never_its_verified_deliveries(make_app):
    app = make_app(WEBHOOK_REFUSAL_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        make_user("asha@example.com", "Asha"), make_exam("Physics Mock 1", testpress_id=12)
        assert [post(client, b"{junk").status_code for _ in range(3)] == [400, 400, 400]

        limited = post(client, b"{junk")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.get_json() == {"status": "rejected",
                                      "detail": "too many refused deliveries from this address"}
        assert len(deliveries()) == 3  # a limited refusal leaves no row

        verified = post(client, signed_body(completed_payload()))
        assert verified.status_code == 200 and verified.get_json()["status"] == "recorded"
        assert len(attempts()) == 1
        assert post(client, b"{junk").status_code == 429  # the verified delivery reset nothing


def test_refused_deliveries_keep_only_the_latest_few_rows(make_app):
    app = make_app(WEBHOOK_REFUSED_LOG_SIZE=25, WEBHOOK_REFUSAL_RATE_LIMIT="10000 per minute")
    client = app.test_client()
    with app.app_context():
        make_user("asha@example.com", "Asha"), make_exam("Physics Mock 1", testpress_id=12)
        assert post(client, signed_body(completed_payload())).status_code == 200
        for number in range(1000):
            assert post(client, f'{{"attempt_id": {number}'.encode()).status_code == 400

        kept = deliveries()
        refused_rows = [delivery for delivery in kept if not delivery.verified]
        assert len(refused_rows) == 25
        # The newest are kept, and the verified delivery is never deleted.
        assert refused_rows[-1].id == max(delivery.id for delivery in kept)
        assert [delivery.outcome for delivery in kept if delivery.verified] == ["recorded"]


@pytest.mark.parametrize("field", ["attempt_id", "state", "email"])
def test_a_lone_surrogate_in_a_signed_body_is_refused_and_logged_not_a_500(client, asha, physics, field):
    # JSON may spell a character no UTF-8 column can hold ("\ud800"): PostgreSQL refused the log row.
    response = post(client, signed_body(completed_payload(**{field: "\ud800"})))
    assert response.status_code < 500
    logged = deliveries()
    assert len(logged) == 1 and "\ud800" not in (logged[0].payload or "")


@pytest.mark.parametrize("body", [
    b'{"attempt_id": "a\\u0000b", "key": "x"}',  # parses; refused for missing fields
    b'not json \x00 at all',                     # does not parse; kept as text
])
def test_a_refused_body_with_a_nul_is_a_400_and_kept_with_the_nul_escaped(client, body, caplog):
    # PostgreSQL holds no NUL in any text: the refusal's own log row was a 500.
    with caplog.at_level(logging.WARNING):
        delivery = refused(client, body, 400)
    assert "\x00" not in (delivery.payload + (delivery.testpress_attempt_id or ""))
    assert "\\u0000" in delivery.payload  # staff still see what came
    assert "webhook delivery" in caplog.text


@pytest.mark.parametrize("changes", [{"email": "asha\x00@example.com"}, {"username": "as\x00ha"},
                                     {"exam": {"id": 12, "title": "Physics\x00"}}])
def test_a_nul_in_a_signed_bodys_text_is_a_400_not_a_500(client, asha, physics, changes, caplog):
    with caplog.at_level(logging.WARNING):
        delivery = refused(client, signed_body(completed_payload(**changes)), 400)
    assert delivery.reason == "a field holds a NUL character"
    assert "\x00" not in delivery.payload
    assert "a field holds a NUL character" in caplog.text


def test_an_out_of_range_time_outside_the_hash_is_left_out_not_a_500(client, asha, physics):
    # Readable, but before year 1 (or after 9999) once in UTC: Testpress retried a 500 forever.
    body = signed_body(completed_payload(attempt_start_time="0001-01-01T00:00:00+05:30",
                                         completed_on="9999-12-31T23:00:00-05:00"))
    response = post(client, body)
    assert (response.status_code, response.get_json()["status"]) == (200, "recorded")
    [attempt] = attempts()
    assert (attempt.status, attempt.score) == ("completed", 163.0)
    assert attempt.completed_at is None and attempt.started_at.year > 2000  # left out, not taken as year 1


def test_a_resumed_take_later_attempt_reported_by_an_old_style_webhook_is_one_attempt(client, asha, physics):
    """The documented payload has no institute_attempt_id and is sent on completion only. A
    launch left with "Take later" (a cancelled return, its attempt_id empty as the contract
    allows), then resumed and finished, is still the same Testpress attempt."""
    from portal.attempts.grading import attempts_used
    from portal.attempts.launching import record_launch
    from tests.web.testpress.test_return import signed_return

    launched = record_launch(asha, physics)
    cancelled = signed_return(launched, status="cancelled", attempt_id="", score="", percentage="",
                              correct_count="", incorrect_count="", unanswered_count="", rank="", max_rank="")
    assert client.post("/testpress/return", data=cancelled).status_code == 303
    old_style = completed_payload(attempt_id=68701)
    for name in ("attempt_state", "institute_attempt_id", "attempt_start_time", "completed_on"):
        old_style.pop(name)
    # Resumed and completed; the webhook lands before the browser's return.
    assert post(client, signed_body(old_style)).get_json() == {"status": "recorded"}
    assert client.post("/testpress/return", data=signed_return(launched)).status_code == 303

    db.session.rollback()
    [attempt] = attempts()
    assert (attempt.id, attempt.status, attempt.testpress_attempt_id) == (launched.id, "completed", "68701")
    assert (attempt.score, attempt.score_source) == (163.0, "webhook")
    assert attempts_used(asha.id, physics.id) == 1  # no second attempt counted against the student
