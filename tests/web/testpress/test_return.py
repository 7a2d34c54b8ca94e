"""The return to /testpress/return: verified against the stored launch, recorded once, session untouched."""

import logging

import pytest
import sqlalchemy as sa
from flask import request
from flask.globals import request_ctx

from portal.core.extensions import db
from portal.models import Attempt, AttemptReport
from portal.testpress.signing import launch_hmac
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_user


def signed_return(attempt: Attempt, **overrides) -> dict:
    """The fields Testpress sends back for `attempt`, signed as Testpress signs them."""
    fields = {
        "email": attempt.student.email,
        "first_name": attempt.student.name,
        "attempt_id": "68701",
        "institute_attempt_id": str(attempt.institute_attempt_id),
        "total_count": "5",
        "correct_count": "3",
        "incorrect_count": "1",
        "unanswered_count": "1",
        "score": "11.50",
        "max_score": "20",
        "rank": "2",
        "max_rank": "9",
        "percentage": "57.50",
        "status": "completed",
    }
    fields["hmac"] = launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], email=fields["email"], first_name=fields["first_name"],
        institute_attempt_id=fields["institute_attempt_id"], key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
        time=attempt.launch_time,
    )
    fields.update(overrides)
    return fields


@pytest.fixture
def attempt(app):
    return make_attempt(make_user("ravi+tests@example.com", "Ravi Kumar"), make_exam())


def reload(attempt: Attempt) -> Attempt:
    db.session.expire_all()
    return db.session.get(Attempt, attempt.id)


def report_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(AttemptReport.id)))


def test_completed_return_is_recorded_unverified_and_sees_the_student_to_the_results(client, attempt):
    response = client.post("/testpress/return", data=signed_return(attempt))

    assert response.status_code == 303
    assert response.headers["Location"] == f"/attempts/{attempt.id}"
    recorded = reload(attempt)
    assert recorded.status == "completed"
    # The return's attempt_id is outside its hmac: kept as a claim, the unique key left to Testpress.
    assert (recorded.claimed_testpress_attempt_id, recorded.testpress_attempt_id) == ("68701", None)
    assert (recorded.score, recorded.max_score, recorded.percentage) == (11.5, 20.0, 57.5)
    assert (recorded.correct_count, recorded.incorrect_count, recorded.unanswered_count) == (3, 1, 1)
    assert (recorded.rank, recorded.max_rank, recorded.total_count) == (2, 9, 5)
    assert recorded.score_source == "return"
    assert not recorded.verified
    assert recorded.completed_at is not None and recorded.return_seen_at is not None
    assert [report.source for report in recorded.reports] == ["return"]


def test_return_is_accepted_as_a_get_with_a_query_string(client, attempt):
    response = client.get("/testpress/return", query_string=signed_return(attempt))

    assert response.status_code == 303
    assert reload(attempt).status == "completed"


def test_cancelled_return_without_a_testpress_id_is_recorded_without_scores(client, attempt):
    fields = signed_return(attempt, status="cancelled", attempt_id="", score="", percentage="", max_score="",
                           correct_count="", incorrect_count="", unanswered_count="", rank="", max_rank="")

    response = client.post("/testpress/return", data=fields)

    assert response.status_code == 303
    recorded = reload(attempt)
    assert recorded.status == "cancelled"
    assert recorded.testpress_attempt_id is None
    assert recorded.score is None and recorded.score_source is None


def test_pending_return_is_recorded_as_pending(client, attempt):
    response = client.post("/testpress/return", data=signed_return(attempt, status="pending", score=""))

    assert response.status_code == 303
    recorded = reload(attempt)
    assert recorded.status == "pending"
    assert recorded.score is None


def test_replayed_return_changes_nothing(client, attempt):
    fields = signed_return(attempt)
    client.post("/testpress/return", data=fields)
    first = reload(attempt)
    snapshot = (first.status, first.score, first.completed_at, first.return_seen_at, first.updated_at)

    replay = client.post("/testpress/return", data=fields)

    assert replay.status_code == 303
    again = reload(attempt)
    assert (again.status, again.score, again.completed_at, again.return_seen_at, again.updated_at) == snapshot
    assert report_count() == 1


def test_a_later_cancelled_return_does_not_undo_a_completed_one(client, attempt):
    client.post("/testpress/return", data=signed_return(attempt))

    client.post("/testpress/return", data=signed_return(attempt, status="cancelled", score=""))

    assert reload(attempt).status == "completed"
    assert reload(attempt).score == 11.5


def test_numbers_are_parsed_leniently_but_safely(client, attempt):
    fields = signed_return(attempt, score=" 81.50 ", max_score="100", rank="None", max_rank="", total_count="5.0",
                           percentage="-2.5")

    assert client.post("/testpress/return", data=fields).status_code == 303

    recorded = reload(attempt)
    assert (recorded.score, recorded.rank, recorded.max_rank, recorded.total_count) == (81.5, None, None, 5)
    assert recorded.percentage == -2.5  # negative marking can go below zero


def test_the_edges_of_a_possible_result_are_accepted(client, attempt):
    fields = signed_return(attempt, score="-20", max_score="20", percentage="-100", correct_count="0",
                           incorrect_count="5", unanswered_count="0", rank="9", max_rank="9")

    assert client.post("/testpress/return", data=fields).status_code == 303
    recorded = reload(attempt)
    assert (recorded.score, recorded.percentage, recorded.incorrect_count, recorded.rank) == (-20.0, -100.0, 5, 9)


REFUSALS = {
    "tampered email": ({"email": "someone.else@example.com"}, 400, "hmac does not match"),
    "tampered name": ({"first_name": "Someone Else"}, 400, "hmac does not match"),
    "bad hmac": ({"hmac": "0" * 64}, 400, "hmac does not match"),
    "empty hmac": ({"hmac": ""}, 400, "Missing field(s): hmac"),
    "no email": ({"email": ""}, 400, "Missing field(s): email"),
    "non-numeric reference": ({"institute_attempt_id": "12abc"}, 400, "institute_attempt_id must be a number"),
    "unknown status": ({"status": "finished"}, 400, "status must be one of"),
    "garbage score": ({"score": "eleven"}, 400, "score must be a number"),
    "infinite score": ({"score": "1e400"}, 400, "score must be a number"),
    "underscored number": ({"percentage": "1_000"}, 400, "percentage must be a number"),
    "fractional count": ({"correct_count": "2.5"}, 400, "correct_count must be a whole number"),
    "negative count": ({"unanswered_count": "-1"}, 400, "unanswered_count must be a whole number"),
    "odd testpress id": ({"attempt_id": "68701<script>"}, 400, "attempt_id is not a Testpress attempt id"),
    # PostgreSQL holds no NUL in any text: refused before anything is looked up or stored.
    "NUL in the name": ({"first_name": "Ravi\x00Kumar"}, 400, "a field holds a NUL character"),
    "NUL in a score": ({"score": "11\x00"}, 400, "a field holds a NUL character"),
    "NUL in a field not read": ({"note": "\x00"}, 400, "a field holds a NUL character"),
    # The hmac covers none of the scores: the student can post any, so impossible ones are refused.
    "32-digit percentage": ({"percentage": "9" * 32, "score": "9" * 32}, 400,
                            "not possible (a percentage of 1e+32, beyond 100)"),
    "percentage over 100": ({"percentage": "100.5"}, 400, "not possible (a percentage of 100.5, beyond 100)"),
    "percentage under -100": ({"percentage": "-100.01"}, 400, "a percentage of -100.01, beyond 100"),
    "score over the maximum": ({"score": "20.5"}, 400, "not possible (a score of 20.5 out of 20)"),
    "negative score past the maximum": ({"score": "-21"}, 400, "a score of -21 out of 20"),
    "negative maximum": ({"max_score": "-1", "score": "0"}, 400, "a maximum score below zero"),
    "a count over the questions": ({"correct_count": "6"}, 400, "more correct answers (6) than questions (5)"),
    "counts over the questions": ({"incorrect_count": "2", "unanswered_count": "1"}, 400,
                                  "more answers than the exam's 5 questions"),
    "rank past the last": ({"rank": "10"}, 400, "a rank of 10 out of 9"),
}


@pytest.mark.parametrize("overrides,status,message", REFUSALS.values(), ids=REFUSALS.keys())
def test_bad_returns_are_refused_with_nothing_recorded(client, attempt, caplog, overrides, status, message):
    fields = signed_return(attempt, **overrides)

    with caplog.at_level(logging.WARNING):
        response = client.post("/testpress/return", data=fields)

    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert "Result not recorded" in page and message in page.replace("&#39;", "'")
    recorded = reload(attempt)
    assert recorded.status == "launched" and recorded.score is None and recorded.return_seen_at is None
    assert report_count() == 0
    assert "return: refused" in caplog.text
    assert signed_return(attempt)["hmac"] not in caplog.text  # never log a signature


def test_missing_hmac_field_is_refused(client, attempt):
    fields = signed_return(attempt)
    del fields["hmac"]

    assert client.post("/testpress/return", data=fields).status_code == 400
    assert reload(attempt).status == "launched"


def test_unknown_reference_is_not_found(client, attempt):
    fields = signed_return(attempt)
    fields["institute_attempt_id"] = str(attempt.institute_attempt_id + 1)

    response = client.post("/testpress/return", data=fields)

    assert response.status_code == 404
    assert "no launch with this institute_attempt_id" in response.get_data(as_text=True)
    assert report_count() == 0


def test_return_for_another_student_is_refused_even_when_signed(client, attempt):
    # A correct signature over someone else's identity for this launch (as if the student
    # had a second account): the return must name the student who launched.
    other = make_user("other@example.com", "Other Student")
    fields = signed_return(attempt)
    fields.update(email=other.email, first_name=other.name, hmac=launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], email=other.email, first_name=other.name,
        institute_attempt_id=str(attempt.institute_attempt_id), key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
        time=attempt.launch_time))

    response = client.post("/testpress/return", data=fields)

    assert response.status_code == 400
    assert "does not match the student who launched" in response.get_data(as_text=True)
    assert report_count() == 0


def test_email_matches_case_insensitively_but_is_signed_as_sent(client, app):
    attempt = make_attempt(make_user("asha@example.com", "Asha Rao"), make_exam())
    fields = signed_return(attempt, email="Asha@Example.com")
    fields["hmac"] = launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], email="Asha@Example.com", first_name="Asha Rao",
        institute_attempt_id=str(attempt.institute_attempt_id), key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
        time=attempt.launch_time)

    assert client.post("/testpress/return", data=fields).status_code == 303


def test_return_signed_with_a_different_launch_time_is_refused(client, attempt):
    fields = signed_return(attempt)
    fields["hmac"] = launch_hmac(
        TEST_SETTINGS["TESTPRESS_SECRET"], email=fields["email"], first_name=fields["first_name"],
        institute_attempt_id=fields["institute_attempt_id"], key=TEST_SETTINGS["TESTPRESS_PUBLIC_KEY"],
        time=attempt.launch_time + 1)

    assert client.post("/testpress/return", data=fields).status_code == 400
    assert report_count() == 0


def test_a_testpress_id_another_attempt_holds_is_only_a_claim_and_blocks_nothing(client, attempt):
    other = make_attempt(make_user("meera@example.com", "Meera"), attempt.exam, testpress_attempt_id="68701")

    response = client.post("/testpress/return", data=signed_return(attempt))

    assert response.status_code == 303
    recorded = reload(attempt)
    assert (recorded.status, recorded.claimed_testpress_attempt_id, recorded.testpress_attempt_id) == (
        "completed", "68701", None)
    assert reload(other).testpress_attempt_id == "68701"


def test_tampered_scores_are_accepted_but_stay_unverified(client, auth, attempt):
    # The hmac does not cover the scores: they are shown, marked unverified, until
    # the webhook or the Admin API confirms them (and flags a disagreement).
    client.post("/testpress/return", data=signed_return(attempt, score="20", percentage="100"))
    auth.login(attempt.student.email)

    page = client.get(f"/attempts/{attempt.id}").get_data(as_text=True)

    assert "20 / 20" in page
    assert "Not yet verified" in page


def test_return_is_exempt_from_csrf(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        attempt = make_attempt(make_user(), make_exam())
        fields = signed_return(attempt)

        response = app.test_client().post("/testpress/return", data=fields)

    assert response.status_code == 303


def test_return_sets_no_cookie_and_leaves_the_student_logged_in(app, client, auth, attempt):
    auth.login(attempt.student.email)
    # The cross-site POST arrives without the session cookie (SameSite=Lax).
    testpress_browser_post = app.test_client()

    response = testpress_browser_post.post("/testpress/return", data=signed_return(attempt))

    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers
    results = client.get(response.headers["Location"])
    assert results.status_code == 200
    assert "Ravi Kumar" in results.get_data(as_text=True)  # still logged in: the name is in the header


def test_return_with_the_session_cookie_does_not_rewrite_it(client, auth, attempt):
    auth.login(attempt.student.email)

    accepted = client.post("/testpress/return", data=signed_return(attempt))
    refused = client.post("/testpress/return", data=signed_return(attempt, hmac="bad"))

    assert "Set-Cookie" not in accepted.headers
    assert "Set-Cookie" not in refused.headers
    assert client.get("/attempts/").status_code == 200


@pytest.mark.parametrize("valid", [True, False], ids=["recorded", "refused"])
def test_return_never_reads_the_session(make_app, valid):
    app = make_app()
    touched = []

    @app.after_request  # registered last, so it runs before Flask-Login's own hook reads the session
    def note_session_use(response):
        # The private attribute, because reading flask.session itself marks it accessed.
        opened = request_ctx._session
        if request.path == "/testpress/return":
            touched.append(opened.accessed or opened.modified)
        return response

    with app.app_context():
        attempt = make_attempt(make_user(), make_exam())
        fields = signed_return(attempt) if valid else signed_return(attempt, hmac="bad")
        app.test_client().post("/testpress/return", data=fields)

    assert touched == [False]


@pytest.mark.parametrize("reference", ["9" * 30, "9223372036854775808", "١٢٣", "12a", "-5"])
def test_a_reference_the_portal_cannot_have_issued_is_refused(client, attempt, reference):
    response = client.post("/testpress/return", data=signed_return(attempt, institute_attempt_id=reference))
    assert response.status_code == 400
    assert "institute_attempt_id must be a number the portal issued" in response.get_data(as_text=True)
    assert report_count() == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_opening_the_return_by_hand_says_what_happened_and_where_to_go(client, method):
    response = client.open("/testpress/return", method=method)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "No exam result here" in page and "nothing to record" in page
    assert 'href="/"' in page and "Go to my exams" in page
    assert "Missing field" not in page
    assert "Set-Cookie" not in response.headers  # the return never touches the session


def test_a_thousand_replays_keep_two_returns_and_their_work_does_not_grow(make_app):
    """A student replaying their own return with new scores cannot grow the attempt's history,
    nor the work each later report does inside the recording lock."""
    app = make_app(RETURN_LAUNCH_RATE_LIMIT="5000 per minute", RETURN_STUDENT_RATE_LIMIT="5000 per minute")
    with app.app_context():
        attempt = make_attempt(make_user("ravi+tests@example.com", "Ravi Kumar"), make_exam())
        fields = [signed_return(attempt, score=f"{n / 100:.2f}") for n in range(1000)]
        attempt_id, engine = attempt.id, db.engine
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client, counts = app.test_client(), {}
    for n, sent in enumerate(fields, start=1):
        statements.clear()
        assert client.post("/testpress/return", data=sent).status_code == 303
        counts[n] = len(statements)

    with app.app_context():
        recorded = db.session.get(Attempt, attempt_id)
        returns = [(report.source, report.score) for report in recorded.reports]
        # The first return and the latest are kept; the 998 between are counted.
        assert returns == [("return", 0.0), ("return", 9.99)]
        assert recorded.other_returns == 998
        assert recorded.flagged and "999 returns with other values" in recorded.flag_reason
    assert counts[1000] <= counts[10], counts


@pytest.mark.parametrize("setting,launches", [("RETURN_LAUNCH_RATE_LIMIT", 1), ("RETURN_STUDENT_RATE_LIMIT", 3)])
def test_returns_past_the_limit_get_a_page_that_keeps_the_result_for_later(make_app, caplog, setting, launches):
    app = make_app(**{setting: "4 per 10 minutes"})
    with app.app_context():
        student = make_user("ravi+tests@example.com", "Ravi Kumar")
        attempts = [make_attempt(student, make_exam(f"Mock {n}")) for n in range(launches)]
        sent = [signed_return(attempts[n % launches], score=str(n)) for n in range(5)]
        ids = [attempt.id for attempt in attempts]
    client = app.test_client()
    assert [client.post("/testpress/return", data=fields).status_code for fields in sent[:4]] == [303] * 4

    refused = client.post("/testpress/return", data=sent[4])

    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600 and refused.headers["Cache-Control"] == "no-store"
    page = refused.get_data(as_text=True)
    assert "Your result is not saved yet" in page and "Save my result" in page
    for name, value in sent[4].items():  # every field kept, for one more press
        assert f'name="{name}" value="{value}"' in page
    assert "too many returns" in caplog.text and sent[4]["hmac"] not in caplog.text
    with app.app_context():
        # The refused return changed nothing: its score 4 is nowhere.
        assert 4.0 not in {report.score for attempt_id in ids
                           for report in db.session.get(Attempt, attempt_id).reports}


def test_a_return_nobody_signed_counts_against_no_one(make_app):
    app = make_app(RETURN_LAUNCH_RATE_LIMIT="2 per 10 minutes")
    with app.app_context():
        attempt = make_attempt(make_user("ravi+tests@example.com", "Ravi Kumar"), make_exam())
        forged, genuine = signed_return(attempt, hmac="0" * 64), signed_return(attempt)
    client = app.test_client()
    assert [client.post("/testpress/return", data=forged).status_code for _ in range(5)] == [400] * 5

    assert client.post("/testpress/return", data=genuine).status_code == 303


def test_a_deactivated_students_return_is_refused_and_logged_with_nothing_recorded(client, attempt, caplog):
    attempt.student.active = False
    db.session.commit()

    response = client.post("/testpress/return", data=signed_return(attempt))

    assert response.status_code == 403
    assert "This account has been deactivated" in response.get_data(as_text=True)
    assert "deactivated" in caplog.text
    assert reload(attempt).status == "launched" and report_count() == 0
