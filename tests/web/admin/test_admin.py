"""Staff pages: guarded as a whole, and each doing its job."""

import re

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.models import Exam, PeopleImport, SyncRun, UnmatchedReport, User, WebhookDelivery
from portal.people.batches import create_batch
from tests.factories import make_attempt, make_exam, make_staff, make_user


def admin_urls(app):
    """A concrete URL for every admin endpoint, with 1 for every integer argument and the
    first choice of every `any(...)` one."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            url = re.sub(r"<any\(([^,)]+)[^>]*>", lambda choice: choice.group(1).strip(), url)
            assert "<" not in url, f"the sweep has no example for {rule.rule}"
            yield rule, url


def test_the_sweeps_cover_the_people_pages(app):
    swept = {rule.endpoint for rule, _ in admin_urls(app)}
    assert {"admin.people", "admin.export_people", "admin.add_person", "admin.person", "admin.edit_person",
            "admin.toggle_active", "admin.add_to_batch", "admin.leave_batch", "admin.change_role",
            "admin.issue_password_link"} <= swept


def test_every_admin_endpoint_refuses_a_student(app, client, auth):
    make_user("asha@example.com")
    auth.login("asha@example.com")
    urls = list(admin_urls(app))
    assert len(urls) >= 8
    for rule, url in urls:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method)
            assert response.status_code == 403, (method, url)


def test_every_admin_endpoint_sends_a_visitor_to_login(app, client):
    for rule, url in admin_urls(app):
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method)
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/login"), (method, url)


def test_every_admin_page_opens_for_staff(app, client, auth):
    make_staff("boss@example.com")
    make_attempt(make_user(), make_exam())  # so that exam 1 and attempt 1 exist
    create_batch("Batch 1", by=None)  # and batch 1
    db.session.add(PeopleImport(csv_text="email,name\nnew@example.com,New\n"))  # import 1
    # and delivery 1, unmatched report 1 and sync run 1
    db.session.add_all([WebhookDelivery(outcome="rejected", reason="missing hash", payload="{}"),
                        UnmatchedReport(source="webhook", testpress_attempt_id="1", reason="unknown exam",
                                        payload="{}"),
                        SyncRun(status="ok")])
    db.session.commit()
    auth.login("boss@example.com")
    for rule, url in admin_urls(app):
        if "GET" in rule.methods:
            assert client.get(url).status_code == 200, url


@pytest.fixture
def staff_client(client, auth):
    make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return client


def test_dashboard_shows_analytics(staff_client):
    exam = make_exam("Chemistry Quiz")
    student = make_user()
    make_attempt(student, exam, status="completed", score=16, max_score=20, percentage=80.0, score_source="webhook")
    make_attempt(student, exam, status="completed", score=8, max_score=20, percentage=40.0, score_source="return")
    make_attempt(student, exam, status="launched")
    page = staff_client.get("/admin/").get_data(as_text=True)
    assert "Chemistry Quiz" in page
    # Average and best of Testpress's own scores: the browser's claim of 40% counts in neither.
    assert "80.0%" in page and "60.0%" not in page


def test_staff_adds_an_exam(staff_client):
    response = staff_client.post("/admin/exams/new", data={
        "title": "Maths Drill", "exam_url": "https://inst.testpress.in/exams/run/maths/start/",
        "testpress_id": "3", "published": "y"})
    exam = db.session.scalar(sa.select(Exam).where(Exam.title == "Maths Drill"))
    assert response.headers["Location"] == f"/admin/exams/{exam.id}"
    # A new exam is a draft (the form's "published" is no field of it): the list's button publishes it.
    assert exam.testpress_id == 3 and not exam.published


def test_exam_form_shows_errors_and_saves_nothing(staff_client):
    make_exam(testpress_id=3)
    response = staff_client.post("/admin/exams/new", data={
        "title": "", "exam_url": "javascript:alert(1)", "testpress_id": "3",
        "opens_at": "2026-12-02T10:00", "closes_at": "2026-12-01T10:00"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This field is required." in page
    assert "close after it opens" in page
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 1


def test_duplicate_testpress_id_is_refused(staff_client):
    make_exam(testpress_id=3)
    response = staff_client.post("/admin/exams/new",
                                 data={"title": "X", "exam_url": "https://t.example/x", "testpress_id": "3"})
    assert response.status_code == 422
    assert "Another exam already has this Testpress id." in response.get_data(as_text=True)


def test_staff_edits_an_exam(staff_client):
    exam = make_exam("Old title")
    staff_client.post(f"/admin/exams/{exam.id}/edit", data={"title": "New title", "exam_url": exam.exam_url})
    db.session.expire_all()
    assert db.session.get(Exam, exam.id).title == "New title"
    assert db.session.get(Exam, exam.id).published is True  # publishing is the list's button, not the form's


def test_editing_an_unknown_exam_is_404(staff_client):
    assert staff_client.get("/admin/exams/999/edit").status_code == 404


def test_staff_adds_a_student(staff_client):
    response = staff_client.post("/admin/people/new", data={"name": "Ravi", "email": "Ravi@Example.com",
                                                            "password": "longenough1"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(User).where(User.email == "ravi@example.com")).is_staff is False


def test_adding_a_duplicate_person_is_refused(staff_client):
    make_user("ravi@example.com")
    response = staff_client.post("/admin/people/new", data={"name": "R", "email": "ravi@example.com",
                                                            "password": "longenough1"})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_staff_deactivates_and_reactivates_a_student(staff_client):
    student = make_user("asha@example.com")
    staff_client.post(f"/admin/people/{student.id}/active", data={"active": "0"})
    db.session.expire_all()
    assert db.session.get(User, student.id).active is False
    staff_client.post(f"/admin/people/{student.id}/active", data={"active": "1"})
    db.session.expire_all()
    assert db.session.get(User, student.id).active is True


def test_staff_cannot_deactivate_themselves(staff_client):
    me = db.session.scalar(sa.select(User).where(User.email == "boss@example.com"))
    response = staff_client.post(f"/admin/people/{me.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "cannot deactivate your own account" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, me.id).active is True


def test_attempts_list_filters(staff_client):
    physics, chemistry = make_exam("Physics"), make_exam("Chemistry")
    asha, ravi = make_user("asha@example.com", "Asha"), make_user("ravi@example.com", "Ravi")
    make_attempt(asha, physics, status="completed", flagged=True, flag_reason="x")
    make_attempt(ravi, chemistry, status="cancelled")
    assert "Ravi" not in staff_client.get(f"/admin/attempts/?exam={physics.id}").get_data(as_text=True)
    assert "Asha" not in staff_client.get("/admin/attempts/?status=cancelled").get_data(as_text=True)
    assert "Asha" not in staff_client.get("/admin/attempts/?student=ravi").get_data(as_text=True)
    flagged = staff_client.get("/admin/attempts/?flagged=1").get_data(as_text=True)
    assert "Asha" in flagged and "Ravi" not in flagged


def test_attempt_detail_shows_the_flag_and_is_404_when_unknown(staff_client):
    attempt = make_attempt(make_user(), make_exam(), status="completed", flagged=True,
                           flag_reason="The browser return claimed score 20")
    page = staff_client.get(f"/admin/attempts/{attempt.id}").get_data(as_text=True)
    assert "Possible tampering: The browser return claimed score 20" in page
    assert staff_client.get("/admin/attempts/999").status_code == 404


def test_percent_and_underscore_in_the_student_filter_match_only_themselves(staff_client):
    exam = make_exam("Physics")
    make_attempt(make_user("asha_rao@example.com", "Asha"), exam)
    make_attempt(make_user("ravixrao@example.com", "Ravi"), exam)
    underscore = staff_client.get("/admin/attempts/?student=_rao").get_data(as_text=True)
    assert "Asha" in underscore and "Ravi" not in underscore
    percent = staff_client.get("/admin/attempts/?student=%25").get_data(as_text=True)
    assert "Asha" not in percent and "Ravi" not in percent and "No attempts match." in percent


@pytest.mark.parametrize("value", ["2147483648", "9223372036854775808", "5_5", "-1", "0", "1e3", "٥", " 12x"])
def test_a_bad_integer_in_a_filter_is_a_400_naming_it(staff_client, value):
    response = staff_client.get("/admin/attempts/", query_string={"exam": value})
    assert response.status_code == 400
    # Row ids are INTEGER columns, 32-bit on PostgreSQL.
    assert "“exam” must be a whole number from 1 to 2147483647." in response.get_data(as_text=True)


def test_the_largest_row_id_filters_to_nothing(staff_client):
    make_attempt(make_user(name="Asha"), make_exam())
    response = staff_client.get(f"/admin/attempts/?exam={2**31 - 1}")
    assert response.status_code == 200
    assert "No attempts match." in response.get_data(as_text=True)


@pytest.mark.parametrize("cursor", ["x", "!!!", "bm90IGpzb24", "WyJzdGFydGVkIix0cnVlLFtdXQ",  # not JSON; no values
                                    "WyJzdGFydGVkIixmYWxzZSxbWyJ0IiwibW9uZGF5Il0sWyJpIiwiMSJdXV0",  # a bad time
                                    # text, not a time
                                    "WyJzdGFydGVkIixmYWxzZSxbWyJzIiwiMjAyNi0wMS0wMSJdLFsiaSIsIjEiXV1d",
                                    "WyJzdGFydGVkIixmYWxzZSxbWyJ0IiwiMjAyNi0wMS0wMVQwMDowMDowMCswNTowMCJdLFsiaSIsIjEiXV1d"])
def test_a_page_link_the_table_did_not_make_is_a_400(staff_client, cursor):
    response = staff_client.get(f"/admin/attempts/?cursor={cursor}")
    assert response.status_code == 400
    assert "start again from the first page" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", [str(2**63), "5_5", "+5", "٥٥", "1.0", "-3", "0"])
def test_exam_form_refuses_a_testpress_id_out_of_range_or_not_in_digits(staff_client, value):
    response = staff_client.post("/admin/exams/new", data={
        "title": "Maths Drill", "exam_url": "https://inst.testpress.in/exams/run/maths/start/",
        "testpress_id": value})
    assert response.status_code == 422
    assert "Enter a whole number from 1 to 9223372036854775807, in digits only." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0


def test_exam_form_takes_the_largest_64_bit_testpress_id(staff_client):
    response = staff_client.post("/admin/exams/new", data={
        "title": "Maths Drill", "exam_url": "https://inst.testpress.in/exams/run/maths/start/",
        "testpress_id": str(2**63 - 1)})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Exam.testpress_id)) == 2**63 - 1


def test_a_nul_character_in_a_form_or_filter_is_a_400_and_saves_nothing(staff_client):
    response = staff_client.post("/admin/exams/new", data={
        "title": "Maths\x00Drill", "exam_url": "https://inst.testpress.in/exams/run/maths/start/"})
    assert response.status_code == 400
    assert "A field holds a NUL character, which no field accepts." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Exam.id))) == 0
    assert staff_client.get("/admin/attempts/?student=asha%00").status_code == 400


@pytest.mark.parametrize("method, url", [
    ("GET", "/admin/attempts/9223372036854775808"),
    ("GET", "/admin/exams/99999999999999999999/edit"),
    ("POST", "/admin/people/9223372036854775808/active"),
    ("GET", "/attempts/9223372036854775808/review"),
])
def test_an_id_past_64_bits_in_a_url_is_a_404(staff_client, method, url):
    assert staff_client.open(url, method=method).status_code == 404


def test_the_largest_row_id_in_a_url_is_an_ordinary_404(staff_client):
    assert staff_client.get(f"/admin/attempts/{2**31 - 1}").status_code == 404
    assert staff_client.get(f"/admin/attempts/{2**31}").status_code == 404


@pytest.mark.parametrize("url, field", [
    ("/admin/exams/{exam}/publish", "published"),
    ("/admin/exams/{exam}/archive", "archived"),
    ("/admin/batches/{batch}/archive", "archived"),
    ("/admin/people/{person}/active", "active"),
    ("/admin/people/{person}/role", "staff"),
])
def test_every_toggle_refuses_a_state_that_is_not_0_or_1_and_changes_nothing(client, auth, url, field):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    ids = {"exam": make_exam().id, "batch": create_batch("Batch A", by=None).id, "person": make_user().id}
    db.session.commit()
    before = toggled_states()

    response = client.post(url.format(**ids), data={field: "yes"})

    assert response.status_code == 400
    assert f"“{field}” must be 0 or 1." in response.get_data(as_text=True)
    db.session.expire_all()
    assert toggled_states() == before


def toggled_states() -> list[tuple]:
    return [tuple(row) for table, columns in (("exams", "published, archived_at"), ("batches", "archived_at"),
                                              ("users", "active, is_staff"))
            for row in db.session.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY id"))]
