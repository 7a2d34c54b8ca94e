"""The audit log's staff page: newest first, its filters, each entry's before and after."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from portal.core import audit
from portal.core.extensions import db
from portal.models import AuditEntry
from tests.factories import make_staff


@pytest.fixture
def staff(client, auth):
    boss = make_staff("boss@example.com", name="Boss Person")
    auth.login("boss@example.com")
    return boss


def entry(actor, action, target_type, summary, at, **values):
    made = audit.record(actor, action, target_type, 1, summary, **values)
    made.at = at
    db.session.commit()
    return made


def test_the_log_lists_entries_newest_first_with_their_changes(client, staff):
    entry(staff, "exam.publish", "exam", "Published Physics", datetime(2026, 11, 2, 9),
          before={"published": False}, after={"published": True})
    entry(staff, "person.rename", "person", "Renamed Asha", datetime(2026, 11, 3, 9),
          before={"name": "Asha"}, after={"name": "Asha Rao"})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.index("Renamed Asha") < page.index("Published Physics")
    assert "<dt>name</dt><dd>Asha → Asha Rao</dd>" in page
    assert "<dt>published</dt><dd>no → yes</dd>" in page
    assert "Boss Person" in page and "Times are in UTC" in page
    assert 'href="/admin/audit"' in page  # in the staff navigation


def test_times_changed_are_shown_in_the_institutes_zone(make_app):
    app = make_app(TIMEZONE="Asia/Kolkata")
    client = app.test_client()
    with app.app_context():
        make_staff("boss@example.com")
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    url = "https://testpress.example/exams/run/t/start/"
    form = {"title": "Timed", "exam_url": url, "counting_rule": "best", "opens_at": "2026-12-05T10:00"}
    assert client.post("/admin/exams/new", data=form).status_code == 302
    with app.app_context():
        exam_id, stored = db.session.execute(sa.select(AuditEntry.target_id, AuditEntry.after)
                                             .where(AuditEntry.action == "exam.create")).one()
    assert '"2026-12-05 04:30:00"' in stored  # kept as the database holds it: UTC
    assert client.post(f"/admin/exams/{exam_id}/edit", data={**form, "opens_at": "2026-12-06T09:15"}).status_code == 302

    page = client.get("/admin/audit").get_data(as_text=True)

    assert "Times are in Asia/Kolkata" in page
    assert "<dt>opens_at</dt><dd>05 Dec 2026, 10:00 IST → 06 Dec 2026, 09:15 IST</dd>" in page
    assert "04:30" not in page and "03:45" not in page


@pytest.mark.parametrize("value, shown", [
    ("2026-12-05 04:30:00", "05 Dec 2026, 04:30 UTC"), ("2026-12-05 04:30:00.250000", "05 Dec 2026, 04:30 UTC"),
    ("2026-13-05 04:30:00", "2026-13-05 04:30:00"), ("2026-12-05", "2026-12-05"),  # not a time: as it is
    ("Mock 2026-12-05 04:30:00", "Mock 2026-12-05 04:30:00"),
])
def test_only_a_recorded_time_is_shown_as_a_time(client, staff, value, shown):
    entry(staff, "exam.update", "exam", "Edited", datetime(2026, 11, 2, 9), before={"closes_at": None},
          after={"closes_at": value})
    assert f"<dt>closes_at</dt><dd>— → {shown}</dd>" in client.get("/admin/audit").get_data(as_text=True)


def test_the_filters(client, staff):
    other = make_staff("other@example.com", name="Other Staff")
    entry(staff, "exam.publish", "exam", "Entry A", datetime(2026, 11, 2, 9))
    entry(other, "person.rename", "person", "Entry B", datetime(2026, 11, 3, 9))
    entry(None, "people.import", "import", "Entry C", datetime(2026, 11, 4, 9))

    def shown(**query):
        page = client.get("/admin/audit", query_string=query).get_data(as_text=True)
        return {name for name in ("Entry A", "Entry B", "Entry C") if name in page}

    assert shown() == {"Entry A", "Entry B", "Entry C"}
    assert shown(actor=other.id) == {"Entry B"}
    assert shown(action="exam.publish") == {"Entry A"}
    assert shown(target="import") == {"Entry C"}
    assert shown(**{"from": "2026-11-03"}) == {"Entry B", "Entry C"}
    assert shown(to="2026-11-03") == {"Entry A", "Entry B"}
    assert shown(**{"from": "2026-11-03", "to": "2026-11-03"}) == {"Entry B"}
    page = client.get("/admin/audit").get_data(as_text=True)
    assert '<option value="people.import"' in page and "Other Staff (other@example.com)" in page


def test_the_date_range_is_in_the_institutes_zone(make_app):
    app = make_app(TIMEZONE="Asia/Kolkata")
    client = app.test_client()
    with app.app_context():
        boss = make_staff("boss@example.com")
        # 20:00 UTC on 2 November is 01:30 on 3 November in Kolkata.
        entry(boss, "exam.publish", "exam", "Late entry", datetime(2026, 11, 2, 20))
    client.post("/login", data={"email": "boss@example.com", "password": "correct horse battery staple"})
    assert "Late entry" in client.get("/admin/audit?from=2026-11-03").get_data(as_text=True)
    page = client.get("/admin/audit?to=2026-11-02").get_data(as_text=True)
    assert "Late entry" not in page and "Asia/Kolkata" in page


@pytest.mark.parametrize("query", ["from=yesterday", "to=2026-13-01", "from=9999-12-31", "actor=abc", "page=0"])
def test_a_bad_filter_is_400(client, staff, query):
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 400


def test_the_log_is_paginated_with_a_bounded_number_of_statements(client, staff):
    for number in range(120):
        db.session.add(AuditEntry(actor_id=staff.id, action="exam.publish", target_type="exam",
                                  target_id=number, summary=f"Entry number {number:03d}",
                                  at=datetime(2026, 11, 1).replace(minute=number % 60, hour=number // 60)))
    db.session.commit()
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    first = client.get("/admin/audit").get_data(as_text=True)
    count = len(statements)
    assert "Entry number 119" in first and "Entry number 069" not in first and "Page 1 of 3" in first
    statements.clear()
    last = client.get("/admin/audit?page=3").get_data(as_text=True)
    assert "Entry number 000" in last and "Entry number 020" not in last
    assert len(statements) <= count <= 8  # a few statements, whatever the page


def test_someone_no_longer_staff_can_still_be_chosen(client, staff):
    from tests.factories import make_user
    former = make_user("former@example.com", name="Former Staff")
    entry(former, "exam.publish", "exam", "Entry by a former staff member", datetime(2026, 11, 2, 9))
    page = client.get(f"/admin/audit?actor={former.id}").get_data(as_text=True)
    assert f'<option value="{former.id}" selected>Former Staff' in page
    assert "Entry by a former staff member" in page
