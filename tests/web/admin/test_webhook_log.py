"""The webhook log on the staff pages: filters by outcome and time, bounded pages, and one
delivery's page with its verification, matched attempt and payload, never a secret."""

from __future__ import annotations

import html
import json
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
