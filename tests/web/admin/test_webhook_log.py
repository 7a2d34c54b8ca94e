"""The webhook log on the staff pages: filters by outcome and time, bounded pages, and one
delivery's page with its verification, matched attempt and payload, never a secret."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import UnmatchedReport, WebhookDelivery
from portal.web.testpress.webhook import REFUSED_PAYLOAD_CHARS
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_webhook import completed_payload, post, signed_body

SECRETS = [TEST_SETTINGS[name] for name in ("TESTPRESS_SECRET", "TESTPRESS_PRIVATE_KEY", "TESTPRESS_API_PASSWORD")]


@pytest.fixture
def staff(app, auth):
    make_staff("priya@example.com", name="Priya Staff")
    auth.login("priya@example.com")


def latest_delivery() -> WebhookDelivery:
    return db.session.scalar(sa.select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(1))


def assert_no_secret(page: str) -> None:
    for secret in SECRETS:
        assert secret not in page
        assert json.dumps(secret)[1:-1] not in page  # nor as JSON escapes it


def test_a_verified_delivery_shows_its_attempt_and_payload_without_hash(client, staff):
    launch = make_attempt(make_user("asha@example.com", "Asha Rao"), make_exam("Physics Mock 1", testpress_id=12),
                          institute_attempt_id=100101)
    body = signed_body(completed_payload(institute_attempt_id=100101))
    assert post(client, body).get_json() == {"status": "recorded"}
    delivery = latest_delivery()

    page = html.unescape(client.get(f"/admin/testpress/deliveries/{delivery.id}").get_data(as_text=True))

    assert "verified" in page and "recorded" in page and "127.0.0.1" in page
    assert f'href="/admin/attempts/{launch.id}"' in page and "Asha Rao" in page
    assert '"email": "asha@example.com"' in page and '"score": "163.00"' in page  # pretty-printed, as sent
    assert json.loads(body)["hash"] not in page and '"hash"' not in page
    assert_no_secret(page)
    assert "hash" not in json.loads(delivery.payload)


def test_a_refused_delivery_shows_why_and_only_the_start_of_its_body(client, staff):
    payload = completed_payload(exam={"id": 12, "title": "x" * 10_000})
    body = json.loads(signed_body(payload))
    body["hash"] = "0" * 128  # the right length, the wrong digest
    assert post(client, json.dumps(body)).status_code == 400
    delivery = latest_delivery()
    assert len(delivery.payload) <= REFUSED_PAYLOAD_CHARS + 1

    page = html.unescape(client.get(f"/admin/testpress/deliveries/{delivery.id}").get_data(as_text=True))

    assert "refused" in page and delivery.reason in page and "first 4 KiB" in page
    assert "0" * 128 not in page


def test_a_body_carrying_one_of_our_secrets_is_shown_blotted_out(client, staff):
    post(client, json.dumps({"key": "nobody", "note": f"oops {TEST_SETTINGS['TESTPRESS_PRIVATE_KEY']}"}))
    post(client, f"not json {TEST_SETTINGS['TESTPRESS_SECRET']}")
    for delivery in db.session.scalars(sa.select(WebhookDelivery)):
        page = html.unescape(client.get(f"/admin/testpress/deliveries/{delivery.id}").get_data(as_text=True))
        assert "[secret]" in page
        assert_no_secret(page)
    assert_no_secret(client.get("/admin/testpress/deliveries/").get_data(as_text=True))


def add_delivery(outcome: str, received_at: datetime, **fields) -> WebhookDelivery:
    delivery = WebhookDelivery(outcome=outcome, received_at=received_at, verified=outcome != "rejected",
                               testpress_attempt_id=fields.pop("testpress_attempt_id", None), **fields)
    db.session.add(delivery)
    db.session.commit()
    return delivery


def listed(page: str) -> set[str]:
    return {part.split('"')[0] for part in page.split('href="/admin/testpress/deliveries/')[1:]
            if part.split('"')[0].isdigit()}


def test_the_log_filters_by_outcome(client, staff):
    now = datetime(2026, 12, 1, 9, 0)
    recorded = add_delivery("recorded", now)
    rejected = add_delivery("rejected", now, reason="bad hash")
    unmatched = add_delivery("unmatched", now)

    assert listed(client.get("/admin/testpress/deliveries/").get_data(as_text=True)) == {
        str(recorded.id), str(rejected.id), str(unmatched.id)}
    assert listed(client.get("/admin/testpress/deliveries/?outcome=rejected").get_data(as_text=True)) == {
        str(rejected.id)}
    assert listed(client.get("/admin/testpress/deliveries/?outcome=unmatched").get_data(as_text=True)) == {
        str(unmatched.id)}
    assert listed(client.get("/admin/testpress/deliveries/?outcome=unchanged").get_data(as_text=True)) == set()


def test_the_time_range_is_typed_in_the_institutes_zone(make_app, auth):
    app = make_app(TIMEZONE="Asia/Kolkata")  # UTC+5:30
    client = app.test_client()
    with app.app_context():
        make_staff("priya@example.com")
        early = add_delivery("recorded", datetime(2026, 12, 1, 3, 0))  # 08:30 in Kolkata
        late = add_delivery("recorded", datetime(2026, 12, 1, 5, 0))  # 10:30 in Kolkata
        early_id, late_id = early.id, late.id
    client.post("/login", data={"email": "priya@example.com", "password": "correct horse battery staple"})

    page = client.get("/admin/testpress/deliveries/?from=2026-12-01T09:00").get_data(as_text=True)
    assert listed(page) == {str(late_id)} and "Asia/Kolkata" in page
    page = client.get("/admin/testpress/deliveries/?from=2026-12-01T08:00&to=2026-12-01T09:00").get_data(as_text=True)
    assert listed(page) == {str(early_id)}
    assert listed(client.get("/admin/testpress/deliveries/?to=2026-12-01").get_data(as_text=True)) == set()


@pytest.mark.parametrize("query", ["outcome=exploded", "from=yesterday", "to=2026-13-01T00:00", "before=x"])
def test_a_bad_filter_is_a_400(client, staff, query):
    response = client.get(f"/admin/testpress/deliveries/?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["from=0001-01-01", "to=0001-01-01T02:00"])
def test_a_time_before_year_1_in_utc_is_a_400_saying_so(make_app, query):
    app = make_app(TIMEZONE="Asia/Kolkata")  # 0001-01-01 00:00 here is in year 0 in UTC
    client = app.test_client()
    with app.app_context():
        make_staff("priya@example.com")
    client.post("/login", data={"email": "priya@example.com", "password": "correct horse battery staple"})
    response = client.get(f"/admin/testpress/deliveries/?{query}")
    assert response.status_code == 400
    assert "is outside the calendar in UTC" in response.get_data(as_text=True)


def test_pages_run_by_id_with_the_same_statements_deep_or_not(app, client, staff):
    start = datetime(2026, 12, 1)
    db.session.add_all([WebhookDelivery(outcome="recorded" if n % 2 else "unchanged", verified=True,
                                        received_at=start + timedelta(minutes=n)) for n in range(120)])
    db.session.commit()
    statements = []  # those of the log (the logged-in user is loaded from the session at times, at others not)
    sa.event.listen(db.engine, "before_cursor_execute",
                    lambda *args: statements.append(args[2]) if "webhook_deliveries" in args[2] else None)

    first = client.get("/admin/testpress/deliveries/").get_data(as_text=True)
    first_count, seen = len(statements), listed(first)
    assert len(seen) == 50
    before = first.split("before=")[1].split("&")[0].split('"')[0]
    second = client.get(f"/admin/testpress/deliveries/?before={before}").get_data(as_text=True)
    third_before = second.split("before=")[1].split("&")[0].split('"')[0]
    statements.clear()
    third = client.get(f"/admin/testpress/deliveries/?before={third_before}").get_data(as_text=True)

    assert len(statements) == first_count == 1  # a deep page costs what the first does: one statement
    assert "count(" not in statements[0].lower()
    assert len(listed(second)) == 50 and len(listed(third)) == 20
    assert not (seen & listed(second)) and not (listed(second) & listed(third))
    assert "Older" not in third and "Newest" in third
    filtered = client.get(f"/admin/testpress/deliveries/?outcome=recorded&before={before}").get_data(as_text=True)
    links = [part.split('"')[0] for part in filtered.split('href="/admin/testpress/deliveries/?')[1:]]
    assert links and all("outcome=recorded" in link for link in links)  # the filter stays on the pager's links


def test_an_unmatched_report_has_a_page_with_its_payload(client, staff):
    post(client, signed_body(completed_payload(email="stranger@example.com", user_id=999)))
    report = db.session.scalar(sa.select(UnmatchedReport))

    overview = client.get("/admin/testpress/").get_data(as_text=True)
    assert f'href="/admin/testpress/unmatched/{report.id}"' in overview
    page = html.unescape(client.get(f"/admin/testpress/unmatched/{report.id}").get_data(as_text=True))
    assert "stranger@example.com" in page and report.reason in page and '"attempt_id"' in page
    assert_no_secret(page)
    assert client.get("/admin/testpress/unmatched/999").status_code == 404
    assert client.get("/admin/testpress/deliveries/999").status_code == 404


# -- who, which exam and what happened, in staff words (issue 25, item 13) ----------------------

def row_of(page: str, delivery_id: int) -> tuple[str, str]:
    """The log's row for one delivery: its HTML, and its text as a person reads it."""
    row = next(row for row in re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)
               if f'href="/admin/testpress/deliveries/{delivery_id}"' in row)
    return row, html.unescape(" ".join(re.sub(r"<[^>]+>", " ", row).split()))


def log_row(client, delivery_id: int) -> tuple[str, str]:
    return row_of(client.get("/admin/testpress/deliveries/").get_data(as_text=True), delivery_id)


def visible_text(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def test_a_matched_delivery_names_the_student_and_the_exam_with_links_and_says_it_was_recorded(client, staff):
    asha = make_user("asha@example.com", "Asha Rao")
    physics = make_exam("Physics Mock 1", testpress_id=12)
    assert post(client, signed_body(completed_payload())).get_json() == {"status": "recorded"}
    assert post(client, signed_body(completed_payload())).get_json() == {"status": "unchanged"}
    first, repeat = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()

    row, text = log_row(client, first.id)
    assert f'href="/admin/people/{asha.id}"' in row and f'href="/admin/exams/{physics.id}"' in row
    assert "Asha Rao" in text and "Physics Mock 1" in text and "Recorded: the student's result" in text
    assert "9001" in text  # Testpress's numbers stay beside the words
    assert "A repeat of an earlier delivery" in log_row(client, repeat.id)[1]
    page = visible_text(client.get(f"/admin/testpress/deliveries/{first.id}").get_data(as_text=True))
    assert "Asha Rao" in page and "Physics Mock 1" in page and "Recorded: the student's result" in page


def test_an_unmatched_delivery_shows_the_email_and_the_exam_it_names(client, staff):
    physics = make_exam("Physics Mock 1", testpress_id=12)
    post(client, signed_body(completed_payload(email="stranger@example.com", user_id=999)))
    unknown_student = latest_delivery()
    post(client, signed_body(completed_payload(attempt_id=9002, exam={"id": 77, "title": "Chemistry Final"})))
    unknown_exam = latest_delivery()
    assert (unknown_student.outcome, unknown_exam.outcome) == ("unmatched", "unmatched")

    row, text = log_row(client, unknown_student.id)
    assert "stranger@example.com" in text and "not in the portal" in text
    assert f'href="/admin/exams/{physics.id}"' in row and "Physics Mock 1" in text
    assert "Kept aside: no student with this email" in text and "as the delivery claims" not in text
    report = db.session.scalar(sa.select(UnmatchedReport).where(UnmatchedReport.testpress_attempt_id == "9001"))
    assert f'href="/admin/testpress/unmatched/{report.id}"' in row  # where staff put it right

    _, text = log_row(client, unknown_exam.id)
    assert "Chemistry Final" in text and "Testpress exam id 77, not set up in the portal" in text
    assert "Kept aside: no student with this email and the exam is not set up in the portal" in text

    page = visible_text(client.get(f"/admin/testpress/unmatched/{report.id}").get_data(as_text=True))
    assert "stranger@example.com" in page and "Physics Mock 1" in page
    assert "Kept aside: no student with this email" in page
    overview = visible_text(client.get("/admin/testpress/").get_data(as_text=True))
    assert "Chemistry Final" in overview and "Kept aside: no student with this email" in overview


def test_a_student_added_after_the_delivery_is_linked_and_the_log_says_a_sync_matches_it(client, staff):
    make_exam("Physics Mock 1", testpress_id=12)
    post(client, signed_body(completed_payload(email="late@example.com", user_id=998)))
    delivery = latest_delivery()
    late = make_user("late@example.com", "Lata Late")

    row, text = log_row(client, delivery.id)
    assert f'href="/admin/people/{late.id}"' in row and "Lata Late" in text
    assert "the student and the exam are in the portal now" in text


def test_a_refused_delivery_labels_what_it_claims_unverified_and_escapes_it(client, staff):
    asha = make_user("asha@example.com", "Asha Rao")
    physics = make_exam("Physics Mock 1", testpress_id=12)
    body = json.loads(signed_body(completed_payload(username="<script>alert('owned')</script>")))
    body["hash"] = "0" * 128  # a forger's: the right length, the wrong digest
    assert post(client, json.dumps(body)).status_code == 400
    delivery = latest_delivery()

    for page in (client.get("/admin/testpress/deliveries/").get_data(as_text=True),
                 client.get(f"/admin/testpress/deliveries/{delivery.id}").get_data(as_text=True)):
        assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
        text = visible_text(page)
        assert "Refused: the signature did not match, so nothing was recorded" in text
        assert "asha@example.com" in text and "Physics Mock 1" in text and "as the delivery claims" in text
        # Whoever sent it wrote these: never looked up, never linked as if they were Asha or the exam.
        assert f'href="/admin/people/{asha.id}"' not in page and f'href="/admin/exams/{physics.id}"' not in page


@pytest.mark.parametrize(("body", "words"), [
    (lambda: json.dumps({**json.loads(signed_body(completed_payload())), "key": "another-institute"}),
     "Refused: it was signed with another institute's key, so nothing was recorded"),
    (lambda: json.dumps({**completed_payload(), "hash": ""}), "Refused: it carried no signature"),
    (lambda: json.dumps({**completed_payload(), "hash": "abc"}), "Refused: its signature is not one Testpress makes"),
    (lambda: json.dumps({"key": "x"}), "Refused: it lacks fields the signature covers"),
    (lambda: "not json", "Refused: it is not a report the portal can read"),
    (lambda: json.dumps({"hash": "x" * 70_000}), "Refused: it is too large to read"),
    (lambda: signed_body(completed_payload(attempt_state="paused")),
     "Refused: the signature matched but the report is unreadable (attempt_state must be started or completed)"),
])
def test_each_kind_of_refusal_says_why_in_words(client, staff, body, words):
    post(client, body())
    delivery = latest_delivery()
    assert delivery.outcome == "rejected"
    assert words in log_row(client, delivery.id)[1]


def add_deliveries(numbers: range) -> None:
    """A delivery of each kind in turn (kept aside, recorded, refused), each naming its own student and exam."""
    for number in numbers:
        claims = {"email": f"student{number}@example.com", "username": f"student{number}", "user_id": 500 + number,
                  "attempt_id": 7000 + number, "exam": {"id": 600 + number, "title": f"Exam {number}"}}
        kind = ("unmatched", "recorded", "rejected")[number % 3]
        fields = {"payload": json.dumps(claims), "testpress_attempt_id": str(7000 + number)}
        if kind == "recorded":
            student = make_user(claims["email"], f"Student {number}")
            fields["attempt"] = make_attempt(student, make_exam(f"Exam {number}", testpress_id=600 + number))
        if kind == "unmatched":
            make_exam(f"Exam {number}", testpress_id=600 + number)
            db.session.add(UnmatchedReport(source="webhook", testpress_attempt_id=str(7000 + number),
                                           email=claims["email"], reason="no portal student",
                                           payload=fields["payload"]))
        add_delivery(kind, datetime(2026, 12, 1) + timedelta(minutes=number), **fields)


@pytest.mark.parametrize("page", ["/admin/testpress/deliveries/", "/admin/testpress/"])
def test_the_words_cost_the_same_statements_for_1_delivery_as_for_30(app, client, staff, page):
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    for numbers in (range(1), range(1, 30)):
        add_deliveries(numbers)
        client.get(page)  # the same session state for both counts (the staff member's row, once loaded, is kept)
        statements.clear()
        text = visible_text(client.get(page).get_data(as_text=True))
        counts.append(len(statements))
        # The words are there to be paid for: the first (kept aside) and the newest.
        assert "student0@example.com" in text and "Exam 0" in text and f"Exam {numbers[-1]}" in text

    assert counts[0] == counts[1]
