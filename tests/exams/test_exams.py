"""The exams service: one way to add or change an exam, and the one rule for its URL."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.exams import rules as exams
from portal.exams.rules import BadExamUrl, DuplicateTestpressId, InvalidExam, add_exam, check_exam_url, update_exam
from portal.models import Exam
from tests.factories import make_exam, make_staff

URL = "https://inst.testpress.in/exams/run/physics/start/"


def stored_exams():
    db.session.expire_all()
    return db.session.scalars(sa.select(Exam).order_by(Exam.id)).all()


def test_a_new_exam_is_stored_published_with_its_values(app):
    add_exam("  Physics Mock 1 ", URL, testpress_id=12, by=None)
    db.session.commit()

    [exam] = stored_exams()
    assert (exam.title, exam.exam_url, exam.testpress_id) == ("Physics Mock 1", URL, 12)
    assert exam.published is True and exam.description == "" and exam.opens_at is None


@pytest.mark.parametrize("url", [
    URL,
    "HTTP://localhost:5001/exams/run/physics/start/",
    "http://127.0.0.1:5001/exams/run/physics/start/?key=1#top",
    "http://[::1]:5001/exams/run/physics/start/",
    "https://परीक्षा.example/exams/run/physics/",
])
def test_exam_urls_testpress_shows_are_accepted(url):
    assert check_exam_url(f"  {url} ") == url


@pytest.mark.parametrize("url", [
    "", "javascript:alert(1)", "ftp://t.example/x", "https://", "https:///exams/run/x/", "//t.example/x",
    "t.example/x", "https://exa mple.example/x", "https://t.example/a b", "https://ex!ample.example/x",
    "http://[::1/x", "https://t.example/\x07", "https://t.example/" + "x" * 500,
])
def test_other_urls_are_refused(app, url):
    with pytest.raises(BadExamUrl) as refusal:
        add_exam("Physics", url, by=None)
    assert refusal.value.field == "exam_url"
    db.session.commit()
    assert stored_exams() == []


def test_the_pages_and_the_cli_refuse_a_url_by_the_same_rule_in_the_same_words(app, client, auth):
    make_staff("boss@example.com")
    auth.login("boss@example.com")

    page = client.post("/admin/exams/new", data={"title": "Physics", "exam_url": "ftp://t.example/x"})
    command = app.test_cli_runner().invoke(args=["add-exam", "--title", "Physics", "--url", "ftp://t.example/x"])

    assert page.status_code == 422 and command.exit_code == 2
    assert str(BadExamUrl()) in page.get_data(as_text=True)
    assert str(BadExamUrl()) in " ".join(command.output.split())  # click wraps its lines
    assert stored_exams() == []


@pytest.mark.parametrize("values, field", [
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"testpress_id": 0}, "testpress_id"),
    ({"testpress_id": 2**63}, "testpress_id"),
    ({"description": "x" * 5001}, "description"),
    ({"opens_at": datetime(2026, 12, 2, 10), "closes_at": datetime(2026, 12, 2, 10)}, "closes_at"),
])
def test_bad_values_are_refused_at_their_field_and_change_nothing(app, values, field):
    exam = make_exam("Physics", exam_url=URL)
    with pytest.raises(InvalidExam) as refusal:
        update_exam(exam, **values, by=None)
    assert refusal.value.field == field
    with pytest.raises(InvalidExam):
        add_exam(**{"title": "Chemistry", "exam_url": URL, **values}, by=None)
    db.session.commit()
    assert [(exam.title, exam.testpress_id, exam.closes_at) for exam in stored_exams()] == [("Physics", None, None)]


def test_an_update_changes_only_what_it_names(app):
    exam = make_exam("Physics", exam_url=URL, testpress_id=3, description="Chapters 1-3")
    update_exam(exam, exam_url="http://localhost:5001/exams/run/physics/start/", published=False, by=None)
    db.session.commit()

    [stored] = stored_exams()
    assert (stored.title, stored.testpress_id, stored.description) == ("Physics", 3, "Chapters 1-3")
    assert (stored.exam_url, stored.published) == ("http://localhost:5001/exams/run/physics/start/", False)


def test_an_unknown_field_is_a_programming_error(app):
    with pytest.raises(TypeError, match="colour"):
        update_exam(make_exam(), colour="red", by=None)


def test_a_testpress_id_belongs_to_one_exam(app):
    physics = make_exam("Physics", testpress_id=3)
    chemistry = make_exam("Chemistry", testpress_id=4)

    with pytest.raises(DuplicateTestpressId, match="an exam with Testpress id 3 already exists"):
        add_exam("Biology", URL, testpress_id=3, by=None)
    with pytest.raises(DuplicateTestpressId) as refusal:
        update_exam(chemistry, testpress_id=3, by=None)
    assert refusal.value.field == "testpress_id"
    update_exam(physics, title="Physics, again", testpress_id=3, by=None)  # its own id is no conflict
    db.session.commit()

    assert [(exam.title, exam.testpress_id) for exam in stored_exams()] == [("Physics, again", 3), ("Chemistry", 4)]


def test_the_database_has_the_last_word_on_a_taken_testpress_id(app, monkeypatch):
    check = exams.testpress_id_in_use

    def check_then_a_rival_commits(testpress_id, *, besides=None):
        in_use = check(testpress_id, besides=besides)
        if not in_use:
            with db.engine.begin() as connection:
                connection.execute(sa.insert(Exam).values(title="Rival", exam_url=URL, testpress_id=testpress_id))
        return in_use

    monkeypatch.setattr(exams, "testpress_id_in_use", check_then_a_rival_commits)
    with pytest.raises(DuplicateTestpressId):
        add_exam("Physics", URL, testpress_id=7, by=None)
    db.session.commit()  # the session is usable again

    assert [(exam.title, exam.testpress_id) for exam in stored_exams()] == [("Rival", 7)]


def test_the_edit_page_lets_an_exam_keep_its_own_testpress_id_but_not_take_another(app, client, auth):
    make_staff("boss@example.com")
    physics, chemistry = make_exam("Physics", testpress_id=3), make_exam("Chemistry", testpress_id=4)
    auth.login("boss@example.com")

    kept = client.post(f"/admin/exams/{physics.id}/edit", data={"title": "Physics II", "exam_url": URL,
                                                                "testpress_id": "3"})
    taken = client.post(f"/admin/exams/{chemistry.id}/edit", data={"title": "Chemistry II", "exam_url": URL,
                                                                   "testpress_id": "3"})

    assert kept.status_code == 302
    assert taken.status_code == 422 and "Another exam already has this Testpress id." in taken.get_data(as_text=True)
    assert [(exam.title, exam.testpress_id) for exam in stored_exams()] == [("Physics II", 3), ("Chemistry", 4)]
