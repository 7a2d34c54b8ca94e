"""The staff's people pages: the list (search, filters, pages, export) and a person's page
with its actions, each recorded in the audit log."""

import csv
import io
import json
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import AuditEntry, PasswordLink, User
from portal.people import accounts as people
from portal.people.batches import add_members, new_batch
from portal.people.search import PeopleFilter, find_people
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user


@pytest.fixture
def boss(client, auth):
    boss = make_staff("boss@example.com", name="Boss Person")
    auth.login("boss@example.com")
    return boss


def make_batch(name, members=(), *, archived=False):
    # Set up without audit entries (new_batch, not create_batch), as the factories do: a test
    # asserts that the requests it refuses write none.
    batch = new_batch(name)
    add_members(batch, members)
    if archived:
        batch.archived_at = utcnow()
    db.session.commit()
    return batch


def page_text(client, url, status=200, **request):
    response = client.get(url, **request)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def names_listed(page: str) -> list[str]:
    """The names in the list's table, in order (each is a link to the person's page)."""
    return re.findall(r'<td data-label="Name"><a href="/admin/people/\d+">([^<]+)</a></td>', page)


def audit_entries(action=None):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return db.session.scalars(query).all()


def reload(person):
    db.session.expire_all()
    return db.session.get(User, person.id)


# --- the list ------------------------------------------------------------------------------

def test_the_list_shows_each_person_with_role_batches_attempts_and_a_link(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    ravi = make_user("ravi@example.com", "Ravi Kumar", active=False)
    make_batch("Morning JEE", [asha])
    exam = make_exam()
    make_attempt(asha, exam)
    make_attempt(asha, exam)

    page = page_text(client, "/admin/people/")

    assert names_listed(page) == ["Asha Rao", "Boss Person", "Ravi Kumar"]
    assert "3 people match (everyone)." in page
    assert f'href="/admin/people/{asha.id}"' in page and f'href="/admin/people/{ravi.id}"' in page
    assert "Morning JEE" in page and "deactivated" in page
    assert f'<a href="/admin/attempts/?student_id={asha.id}">2</a>' in page
    assert '<input id="q" type="search" name="q"' in page
    assert 'href="/admin/people/import"' in page and 'href="/admin/people/export.csv"' in page


def test_search_finds_names_and_emails_whatever_the_case(client, boss):
    make_user("asha@example.com", "Asha Rao")
    make_user("meera@school.in", "Meera Iyer")
    make_user("ravi@example.com", "Ravi Kumar")

    assert names_listed(page_text(client, "/admin/people/?q=RAO")) == ["Asha Rao"]
    assert names_listed(page_text(client, "/admin/people/?q=SCHOOL.in")) == ["Meera Iyer"]
    assert names_listed(page_text(client, "/admin/people/?q=example")) == ["Asha Rao", "Boss Person", "Ravi Kumar"]
    page = page_text(client, "/admin/people/?q=nobody-has-this")
    assert names_listed(page) == [] and "Nobody matches." in page and "0 people match." in page


@pytest.mark.parametrize("typed", ["Élodie", "élodie", "ÉLODIE", "ÉloDIE Mar"])
def test_search_finds_non_ascii_names_whatever_the_case(client, boss, typed):
    make_user("elodie@example.com", "Élodie Martin")
    make_user("oeuvre@example.com", "Zoë Ødegaard")
    make_user("eloise@example.com", "Eloise Ray")  # an unaccented E is another letter

    assert names_listed(page_text(client, "/admin/people/", query_string={"q": typed})) == ["Élodie Martin"]
    export = client.get("/admin/people/export.csv", query_string={"q": typed}).get_data(as_text=True)
    assert "elodie@example.com" in export and "eloise@example.com" not in export


def test_like_wildcards_typed_in_the_search_are_plain_characters(client, boss):
    make_user("a_b@example.com", "Under Score")
    make_user("axb@example.com", "Ex Marks")
    make_user("pct@example.com", "100% Sure")

    assert names_listed(page_text(client, "/admin/people/?q=a_b")) == ["Under Score"]
    assert names_listed(page_text(client, "/admin/people/?q=%25")) == ["100% Sure"]


def test_the_role_status_and_batch_filters(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    ravi = make_user("ravi@example.com", "Ravi Kumar", active=False)
    make_staff("tara@example.com", name="Tara Staff", active=False)
    morning = make_batch("Morning", [asha, ravi])
    make_batch("Evening", [ravi])

    assert names_listed(page_text(client, "/admin/people/?role=students")) == ["Asha Rao", "Ravi Kumar"]
    assert names_listed(page_text(client, "/admin/people/?role=staff")) == ["Boss Person", "Tara Staff"]
    assert names_listed(page_text(client, "/admin/people/?status=active")) == ["Asha Rao", "Boss Person"]
    assert names_listed(page_text(client, "/admin/people/?status=inactive")) == ["Ravi Kumar", "Tara Staff"]
    assert names_listed(page_text(client, f"/admin/people/?batch={morning.id}")) == ["Asha Rao", "Ravi Kumar"]
    combined = page_text(client, f"/admin/people/?batch={morning.id}&status=inactive&role=students&q=kumar")
    assert names_listed(combined) == ["Ravi Kumar"] and "1 person matches." in combined
    # The form shows the filter it applied, and offers every batch.
    assert f'<option value="{morning.id}" selected>Morning</option>' in combined
    assert '<option value="inactive" selected>' in combined and "Evening" in combined


@pytest.mark.parametrize("query", ["role=teachers", "status=gone", "batch=abc", "batch=0"])
def test_a_filter_value_no_form_offers_is_a_400(client, boss, query):
    assert client.get(f"/admin/people/?{query}").status_code == 400
    assert client.get(f"/admin/people/export.csv?{query}").status_code == 400


@pytest.mark.parametrize("query", ["after=-1", "before=99999999999999", "after=1_0"])
def test_a_bad_page_cursor_is_a_400(client, boss, query):
    assert client.get(f"/admin/people/?{query}").status_code == 400


def test_a_cursor_naming_nobody_or_past_the_end_starts_from_the_first_page(client, boss):
    make_user("zed@example.com", "Zed Last")
    assert names_listed(page_text(client, "/admin/people/?after=4242")) == ["Boss Person", "Zed Last"]
    last = db.session.scalar(sa.select(User.id).where(User.name == "Zed Last"))
    assert names_listed(page_text(client, f"/admin/people/?after={last}")) == ["Boss Person", "Zed Last"]


def test_pages_of_fifty_in_name_order_forward_and_back(client, boss):
    for number in range(120):
        db.session.add(User(email=f"s{number:03}@example.com", name=f"Student {number:03}", password_hash="x"))
    db.session.commit()  # with Boss: 121 people, three pages

    first = page_text(client, "/admin/people/?role=students")
    assert names_listed(first) == [f"Student {n:03}" for n in range(50)]
    assert "120 people match." in first and "← Previous" not in first
    after = re.search(r'href="/admin/people/\?after=(\d+)&amp;role=students" rel="next"', first).group(1)

    second = page_text(client, f"/admin/people/?after={after}&role=students")
    assert names_listed(second) == [f"Student {n:03}" for n in range(50, 100)]
    assert "120 people match." in second
    after = re.search(r'after=(\d+)&amp;role=students" rel="next"', second).group(1)

    third = page_text(client, f"/admin/people/?after={after}&role=students")
    assert names_listed(third) == [f"Student {n:03}" for n in range(100, 120)]
    assert "Next →" not in third
    before = re.search(r'href="/admin/people/\?before=(\d+)&amp;role=students" rel="prev"', third).group(1)

    back = page_text(client, f"/admin/people/?before={before}&role=students")
    assert names_listed(back) == [f"Student {n:03}" for n in range(50, 100)]
    before = re.search(r'before=(\d+)&amp;role=students" rel="prev"', back).group(1)
    back_to_first = page_text(client, f"/admin/people/?before={before}&role=students")
    assert names_listed(back_to_first) == [f"Student {n:03}" for n in range(50)]
    assert "← Previous" not in back_to_first and "Next →" in back_to_first


def test_people_of_the_same_name_are_paged_by_id_none_lost_or_repeated(app):
    for number in range(7):
        db.session.add(User(email=f"twin{number}@example.com", name="Same Name", password_hash="x"))
    db.session.commit()
    seen, after = [], None
    while True:
        page = find_people(PeopleFilter(), after=after, per_page=3)
        seen += [person.email for person in page.people]
        if page.next_after is None:
            break
        after = page.next_after
    assert sorted(seen) == [f"twin{n}@example.com" for n in range(7)] and len(seen) == 7


def test_the_list_runs_the_same_statements_for_ten_or_two_hundred_people(app, client, boss):
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def counted(url):
        statements.clear()
        assert client.get(url).status_code == 200
        return len(statements)

    def add_people(count, start):
        exam = make_exam()
        batch = make_batch(f"Batch {start}")
        people = [User(email=f"p{start + n}@example.com", name=f"P {start + n}", password_hash="x")
                  for n in range(count)]
        db.session.add_all(people)
        db.session.commit()
        add_members(batch, people)
        for person in people[:5]:
            make_attempt(person, exam)
        db.session.commit()
        return people

    add_people(10, 0)
    small = counted("/admin/people/"), counted("/admin/people/?q=p&role=students")
    people = add_people(200, 100)
    large = counted("/admin/people/"), counted("/admin/people/?q=p&role=students")
    deep = counted(f"/admin/people/?after={people[150].id}")
    assert small == large and deep <= large[0] + 1  # the cursor's own lookup at most


# --- the export ----------------------------------------------------------------------------

def exported(client, url="/admin/people/export.csv"):
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="people.csv"'
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_export_holds_the_filtered_people_with_their_batches_and_attempts(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    make_user("ravi@example.com", "Ravi Kumar", active=False)
    make_batch("Morning", [asha])
    make_batch("Evening", [asha])
    make_attempt(asha, make_exam())

    header, *rows = exported(client, "/admin/people/export.csv?role=students")
    assert header == ["email", "name", "role", "active", "batches", "attempts", "created"]
    assert [row[:6] for row in rows] == [
        ["asha@example.com", "Asha Rao", "student", "yes", "Evening; Morning", "1"],
        ["ravi@example.com", "Ravi Kumar", "student", "no", "", "0"],
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d[+-]\d\d:\d\d", rows[0][6])  # local time, with its offset
    _, *searched = exported(client, "/admin/people/export.csv?q=ravi")
    assert [row[0] for row in searched] == ["ravi@example.com"]


def test_the_export_neutralises_spreadsheet_formulas(client, boss):
    make_user("evil@example.com", "=HYPERLINK(\"http://evil.example\")")
    make_user("plus@example.com", "+1 Student")
    make_batch("@batch", [make_user("at@example.com", "At Batch")])

    _, *rows = exported(client)
    by_email = {row[0]: row for row in rows}
    assert by_email["evil@example.com"][1] == "'=HYPERLINK(\"http://evil.example\")"
    assert by_email["plus@example.com"][1] == "'+1 Student"
    assert by_email["at@example.com"][4] == "'@batch"


def test_the_export_streams_every_person_across_chunks(client, boss, monkeypatch):
    monkeypatch.setattr("portal.people.search.EXPORT_CHUNK", 7)
    for number in range(30):
        db.session.add(User(email=f"s{number:02}@example.com", name=f"S {number:02}", password_hash="x"))
    db.session.commit()
    _, *rows = exported(client, "/admin/people/export.csv?role=students")
    assert [row[0] for row in rows] == [f"s{n:02}@example.com" for n in range(30)]


# --- a person's page -----------------------------------------------------------------------

def test_a_persons_page_shows_details_batches_and_attempts_newest_first(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    make_batch("Morning JEE", [asha])
    make_batch("Old batch", archived=True)
    make_batch("Evening NEET")
    older = make_attempt(asha, make_exam("Physics Mock"), started_at=utcnow() - timedelta(days=3))
    newer = make_attempt(asha, make_exam("Chemistry Mock"), started_at=utcnow() - timedelta(days=1))

    page = page_text(client, f"/admin/people/{asha.id}")

    assert "Asha Rao" in page and "asha@example.com" in page and "Student" in page
    assert "Remove from Morning JEE" in page
    # Only unarchived batches the person is not in are offered.
    assert '<option value="' in page and "Evening NEET" in page and "Old batch" not in page
    assert page.index("Chemistry Mock") < page.index("Physics Mock")
    assert f'href="/admin/attempts/{newer.id}"' in page and f'href="/admin/attempts/{older.id}"' in page
    assert "No unused link is valid." in page


def test_an_unknown_person_is_a_404(client, boss):
    assert client.get("/admin/people/999").status_code == 404
    assert client.post("/admin/people/999/edit", data={"name": "X", "email": "x@example.com"}).status_code == 404


def test_staff_edit_a_name_and_email_and_the_change_is_audited(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")

    response = client.post(f"/admin/people/{asha.id}/edit", data={"name": " Asha R. ", "email": "Asha.R@Example.com"})

    assert response.status_code == 302 and response.headers["Location"] == f"/admin/people/{asha.id}"
    asha = reload(asha)
    assert (asha.name, asha.email) == ("Asha R.", "asha.r@example.com")
    [entry] = audit_entries("person.edit")
    assert entry.actor_id == boss.id and entry.target_id == asha.id
    assert json.loads(entry.before) == {"name": "Asha Rao", "email": "asha@example.com"}
    assert json.loads(entry.after) == {"name": "Asha R.", "email": "asha.r@example.com"}


def test_an_email_someone_else_has_is_a_clear_form_error_and_changes_nothing(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    make_user("ravi@example.com", "Ravi Kumar")

    response = client.post(f"/admin/people/{asha.id}/edit", data={"name": "Asha New", "email": "RAVI@example.com"})

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Someone else already has this email." in page
    assert (reload(asha).name, reload(asha).email) == ("Asha Rao", "asha@example.com")
    assert audit_entries("person.edit") == []


def test_keeping_ones_own_email_is_not_a_duplicate(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    response = client.post(f"/admin/people/{asha.id}/edit", data={"name": "Asha Rao", "email": "asha@example.com"})
    assert response.status_code == 302
    assert audit_entries("person.edit") == []  # nothing changed, nothing recorded


def test_a_bad_email_is_refused_at_its_field(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    response = client.post(f"/admin/people/{asha.id}/edit", data={"name": "", "email": "not-an-email"})
    assert response.status_code == 422
    assert "Invalid email address." in response.get_data(as_text=True)
    assert reload(asha).email == "asha@example.com"


def test_deactivate_and_reactivate_from_the_persons_page_are_audited(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")

    response = client.post(f"/admin/people/{asha.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "asha@example.com is now deactivated." in response.get_data(as_text=True)
    assert reload(asha).active is False
    client.post(f"/admin/people/{asha.id}/active", data={"active": "1"})
    assert reload(asha).active is True

    deactivated, reactivated = audit_entries("person.deactivate"), audit_entries("person.reactivate")
    assert [json.loads(e.after) for e in deactivated + reactivated] == [{"active": False}, {"active": True}]


def test_pressing_deactivate_twice_leaves_the_person_deactivated(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    page = page_text(client, f"/admin/people/{asha.id}")
    wanted = re.search(r'name="active" value="(\d)"', page).group(1)  # what the Deactivate button sends
    assert wanted == "0" and ">Deactivate</button>" in page

    client.post(f"/admin/people/{asha.id}/active", data={"active": wanted})
    again = client.post(f"/admin/people/{asha.id}/active", data={"active": wanted}, follow_redirects=True)

    assert reload(asha).active is False
    assert "asha@example.com is already deactivated." in again.get_data(as_text=True)
    assert len(audit_entries("person.deactivate")) == 1 and audit_entries("person.reactivate") == []
    # Reactivating a person who is already active, from a stale tab, changes and records nothing either.
    client.post(f"/admin/people/{asha.id}/active", data={"active": "1"})
    client.post(f"/admin/people/{asha.id}/active", data={"active": "1"})
    assert reload(asha).active is True and len(audit_entries("person.reactivate")) == 1


@pytest.mark.parametrize("sent", [{}, {"active": "yes"}])
def test_deactivate_without_the_state_wanted_is_a_400_that_changes_nothing(client, boss, sent):
    asha = make_user("asha@example.com", "Asha Rao")
    assert client.post(f"/admin/people/{asha.id}/active", data=sent).status_code == 400
    assert reload(asha).active is True and audit_entries("person.deactivate") == []


def test_adding_to_and_removing_from_batches_is_audited(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    morning = make_batch("Morning")

    assert client.post(f"/admin/people/{asha.id}/batches", data={"batch": morning.id}).status_code == 302
    assert [batch.name for batch in reload(asha).batches] == ["Morning"]
    assert "Remove from Morning" in page_text(client, f"/admin/people/{asha.id}")

    assert client.post(f"/admin/people/{asha.id}/batches/{morning.id}/remove").status_code == 302
    assert reload(asha).batches == []

    [added], [removed] = audit_entries("person.batch_add"), audit_entries("person.batch_remove")
    assert json.loads(added.after)["batch"] == "Morning" and json.loads(removed.before)["batch"] == "Morning"
    assert added.target_id == removed.target_id == asha.id


def test_an_archived_or_unknown_batch_cannot_be_joined(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    archived = make_batch("Old", archived=True)
    assert client.post(f"/admin/people/{asha.id}/batches", data={"batch": archived.id}).status_code == 400
    assert client.post(f"/admin/people/{asha.id}/batches", data={"batch": "999"}).status_code == 400
    assert client.post(f"/admin/people/{asha.id}/batches", data={"batch": "x"}).status_code == 400
    assert client.post(f"/admin/people/{asha.id}/batches/999/remove").status_code == 404
    assert reload(asha).batches == [] and audit_entries() == []


def test_making_staff_asks_for_confirmation_then_is_audited(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")

    confirm = page_text(client, f"/admin/people/{asha.id}/role")
    assert "Make Asha Rao staff?" in confirm and 'name="staff" value="1"' in confirm
    assert reload(asha).is_staff is False  # the page alone changes nothing

    client.post(f"/admin/people/{asha.id}/role", data={"staff": "1"})
    assert reload(asha).is_staff is True
    client.post(f"/admin/people/{asha.id}/role", data={"staff": "0"})
    assert reload(asha).is_staff is False
    assert [json.loads(e.after) for e in audit_entries("person.make_staff") + audit_entries("person.make_student")] \
        == [{"is_staff": True}, {"is_staff": False}]


def test_staff_cannot_make_themselves_a_student(client, boss):
    confirm = page_text(client, f"/admin/people/{boss.id}/role")
    assert "You cannot make yourself a student" in confirm and 'name="staff"' not in confirm

    response = client.post(f"/admin/people/{boss.id}/role", data={"staff": "0"}, follow_redirects=True)

    assert "You cannot make yourself a student" in response.get_data(as_text=True)
    assert reload(boss).is_staff is True and audit_entries() == []
    assert client.get("/admin/people/").status_code == 200  # still staff


def test_a_role_post_without_a_clear_choice_is_a_400(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")
    assert client.post(f"/admin/people/{asha.id}/role", data={"staff": "yes"}).status_code == 400
    assert client.post(f"/admin/people/{asha.id}/role").status_code == 400
    assert reload(asha).is_staff is False


def test_a_demoted_staff_member_loses_the_staff_pages_at_once(make_app):
    # No app context held around the requests (see tests/people/test_people.py): two browsers.
    app = make_app()
    with app.app_context():
        make_staff("boss@example.com")
        tara_id = make_staff("tara@example.com", name="Tara").id
    tara, boss = app.test_client(), app.test_client()
    for browser, email in ((tara, "tara@example.com"), (boss, "boss@example.com")):
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    assert tara.get("/admin/people/").status_code == 200

    boss.post(f"/admin/people/{tara_id}/role", data={"staff": "0"})

    assert tara.get("/admin/people/").status_code == 403
    assert tara.get("/exams/").status_code == 200  # still logged in, as a student


@pytest.fixture
def two_staff(make_app):
    """Boss and Tara, the only staff, each logged in in their own browser (no app context held)."""
    app = make_app()
    with app.app_context():
        ids = {"boss": make_staff("boss@example.com").id, "tara": make_staff("tara@example.com", name="Tara").id}
    browsers = {}
    for name in ids:
        browsers[name] = app.test_client()
        assert browsers[name].post("/login", data={"email": f"{name}@example.com",
                                                   "password": PASSWORD}).status_code == 302
    return app, ids, browsers


def active_staff(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(sa.select(User.email).where(User.is_staff.is_(True), User.active.is_(True))
                                  .order_by(User.email)).all()


@pytest.mark.parametrize("action, fields", [("role", {"staff": "0"}), ("active", {"active": "0"})])
def test_two_staff_removing_each_other_at_once_leave_one(two_staff, monkeypatch, action, fields):
    """The first request is held after it counted the other staff and before it wrote, while
    the second makes its own: without the lock, both counted two and both went through."""
    app, ids, browsers = two_staff
    counted, release = threading.Event(), threading.Event()
    real = people.keep_another_active_staff_member

    def held(*args):
        real(*args)
        if not counted.is_set():
            counted.set()
            assert release.wait(10)

    monkeypatch.setattr(people, "keep_another_active_staff_member", held)
    answers = {}

    def remove(actor, target):
        answers[actor] = browsers[actor].post(f"/admin/people/{ids[target]}/{action}", data=fields,
                                              follow_redirects=True).get_data(as_text=True)

    first = threading.Thread(target=remove, args=("boss", "tara"))
    first.start()
    assert counted.wait(10)
    second = threading.Thread(target=remove, args=("tara", "boss"))
    second.start()
    second.join(0.5)  # the second waits for the lock, or (before it) went through here
    release.set()
    first.join(10), second.join(10)

    assert active_staff(app) == ["boss@example.com"]
    assert "must keep at least one active staff member" in answers["tara"]
    assert browsers["boss"].get("/admin/people/").status_code == 200


def test_a_one_time_link_is_shown_once_and_only_its_hash_is_stored(client, boss):
    asha = make_user("asha@example.com", "Asha Rao")

    response = client.post(f"/admin/people/{asha.id}/password-link")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    link = re.search(r'value="(http://localhost/password/[A-Za-z0-9_-]{43})"', page).group(1)
    assert "It works once, within 24 hours." in page
    token = link.rsplit("/", 1)[1]
    [stored] = db.session.scalars(sa.select(PasswordLink)).all()
    assert stored.user_id == asha.id and token not in stored.token_hash
    person_page = page_text(client, f"/admin/people/{asha.id}")
    assert "1 unused link still valid." in person_page and token not in person_page
    [entry] = audit_entries("password_link.issue")
    assert entry.target_id == asha.id
    assert token not in (entry.summary + (entry.before or "") + (entry.after or ""))
    assert stored.token_hash not in (entry.summary + (entry.after or ""))


def test_no_link_for_a_deactivated_account(client, boss):
    ravi = make_user("ravi@example.com", "Ravi", active=False)
    response = client.post(f"/admin/people/{ravi.id}/password-link", follow_redirects=True)
    assert "Reactivate this account first" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(PasswordLink.id))) == 0


def test_adding_a_person_is_audited_and_opens_their_page(client, boss):
    assert "Add a person" in page_text(client, "/admin/people/new")
    response = client.post("/admin/people/new", data={"name": "Meera", "email": "meera@example.com",
                                                      "password": "long enough"})
    meera = db.session.scalar(sa.select(User).where(User.email == "meera@example.com"))
    assert response.headers["Location"] == f"/admin/people/{meera.id}"
    [entry] = audit_entries("person.create")
    assert json.loads(entry.after) == {"email": "meera@example.com", "name": "Meera", "is_staff": False}
    assert "long enough" not in entry.after


def test_a_page_opened_before_a_colleagues_edit_does_not_undo_it(make_app):
    app = make_app()
    with app.app_context():
        make_staff("a@example.com", name="Staff A"), make_staff("b@example.com", name="Staff B")
        student_id = make_user("ravi@example.com", "Ravi").id
        db.session.commit()
    a, b = app.test_client(), app.test_client()
    for client, email in ((a, "a@example.com"), (b, "b@example.com")):
        assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302

    def shown(client) -> str:
        page = client.get(f"/admin/people/{student_id}").get_data(as_text=True)
        return re.search(r'name="shown" type="hidden" value="(\w+)"', page).group(1)

    opened = shown(a)  # A opens the page
    assert b.post(f"/admin/people/{student_id}/edit", data={"name": "Ravi Kumar", "email": "ravi@example.com",
                                                            "shown": shown(b)}).status_code == 302
    # A, from the page opened before, fixes the email only: the form still says "Ravi".
    refused = a.post(f"/admin/people/{student_id}/edit",
                     data={"name": "Ravi", "email": "ravi.k@example.com", "shown": opened})

    assert refused.status_code == 409
    assert ("Someone changed this person&#39;s name or email after you opened this page"
            in refused.get_data(as_text=True))
    with app.app_context():
        assert (db.session.get(User, student_id).name, db.session.get(User, student_id).email) == (
            "Ravi Kumar", "ravi@example.com")
        assert len(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "person.edit")).all()) == 1

    # Saved again from the refusal's page, knowingly, it goes through.
    again = re.search(r'name="shown" type="hidden" value="(\w+)"', refused.get_data(as_text=True)).group(1)
    assert a.post(f"/admin/people/{student_id}/edit",
                  data={"name": "Ravi", "email": "ravi.k@example.com", "shown": again}).status_code == 302
