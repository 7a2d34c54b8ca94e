"""An exam's rules as students meet them: who it is for (batches), attempts allowed, which
attempt counts, its instructions; and the staff preview of the students' list."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.attempts import launching as launch
from portal.attempts.grading import counting_attempts
from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.models import Attempt
from portal.people.batches import add_members, create_batch
from tests.attempts.test_integrity import in_thread
from tests.factories import PASSWORD, make_attempt, make_exam, make_staff, make_user
from tests.web.student.test_student import exam_card, page_text

SCORED = dict(status="completed", max_score=20.0, score_source="webhook")


@pytest.fixture
def student(auth):
    user = make_user("asha@example.com", "Asha Rao")
    auth.login(user.email)
    return user


def batch_of(name, *people):
    batch = create_batch(name, by=None)
    add_members(batch, people)
    db.session.commit()
    return batch


def attempts_of(student_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(Attempt.id)).where(Attempt.student_id == student_id))


# -- batches -------------------------------------------------------------------------------------


def test_a_student_sees_exams_for_everyone_and_for_their_batches_only(client, student):
    ravi = make_user("ravi@example.com", "Ravi")
    mine, theirs = batch_of("Morning", student), batch_of("Evening", ravi)
    make_exam("For everyone")
    make_exam("For morning", batches=[mine])
    make_exam("For evening", batches=[theirs])
    make_exam("For both", batches=[mine, theirs])

    text = page_text(client.get("/exams/"))

    assert "For everyone" in text and "For morning" in text and "For both" in text
    assert "For evening" not in text


def test_the_start_route_answers_404_for_another_batchs_exam_and_records_nothing(client, student):
    other = batch_of("Evening", make_user("ravi@example.com"))
    exam = make_exam("For evening", batches=[other])

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 404
    # The same answer as for an exam that does not exist: nothing says it is there.
    assert client.post("/exams/99999/start").get_data(as_text=True) == response.get_data(as_text=True)
    assert attempts_of(student.id) == 0


def test_a_student_added_to_the_batch_may_start_its_exam(client, student):
    batch = batch_of("Morning")
    exam = make_exam("For morning", batches=[batch])
    assert client.post(f"/exams/{exam.id}/start").status_code == 404

    add_members(batch, [student])
    db.session.commit()

    assert client.post(f"/exams/{exam.id}/start").status_code == 200
    assert attempts_of(student.id) == 1


@pytest.mark.parametrize("state", [{"published": False}, {"archived_at": utcnow()}])
def test_an_unpublished_or_archived_exam_is_neither_listed_nor_started(client, student, state):
    exam = make_exam("Hidden", **state)

    assert "Hidden" not in page_text(client.get("/exams/"))
    assert client.post(f"/exams/{exam.id}/start").status_code == 404
    assert attempts_of(student.id) == 0


def test_archiving_hides_an_exam_from_students_and_keeps_its_history(client, student):
    exam = make_exam("Old mock")
    attempt = make_attempt(student, exam, **SCORED, score=14.0, percentage=70.0)
    exam.archived_at = utcnow()
    db.session.commit()

    assert "Old mock" not in page_text(client.get("/exams/"))
    history = page_text(client.get("/attempts/"))
    assert "Old mock" in history
    assert client.get(f"/attempts/{attempt.id}").status_code == 200


# -- attempts allowed ------------------------------------------------------------------------------


def test_the_card_counts_the_attempts_used_of_those_allowed(client, student):
    limited, unlimited = make_exam("Limited", attempts_allowed=2), make_exam("Unlimited")
    make_attempt(student, limited, **SCORED, score=10.0)
    for _ in range(2):
        make_attempt(student, unlimited, **SCORED, score=10.0)
    make_attempt(make_user(), limited, **SCORED, score=10.0)  # another student's is not counted

    response = client.get("/exams/")

    assert "1 of 2 attempts used" in exam_card(response, "Limited")
    assert "Retake" in exam_card(response, "Limited")
    assert "2 attempts" in exam_card(response, "Unlimited") and " of " not in exam_card(response, "Unlimited")


def test_a_new_attempt_beyond_those_allowed_is_refused_with_a_message(client, student):
    exam = make_exam("Once only", attempts_allowed=1)
    make_attempt(student, exam, **SCORED, score=10.0)

    card = exam_card(client.get("/exams/"), "Once only")
    response = client.post(f"/exams/{exam.id}/start")

    assert "1 of 1 attempt used" in card and "You have used every attempt allowed." in card
    assert "Retake" not in card
    assert response.status_code == 403
    assert "You have used your only attempt allowed at “Once only”" in page_text(response)
    assert attempts_of(student.id) == 1


def test_resuming_an_unfinished_attempt_is_not_a_new_attempt(client, student):
    exam = make_exam("Once only", attempts_allowed=1)
    unfinished = make_attempt(student, exam, status="cancelled")

    assert "Resume" in exam_card(client.get("/exams/"), "Once only")
    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 200
    assert f'name="institute_attempt_id" value="{unfinished.institute_attempt_id}"' in response.get_data(as_text=True)
    assert attempts_of(student.id) == 1


def test_two_presses_at_once_cannot_exceed_the_attempts_allowed(app, monkeypatch):
    """One attempt used of two; the first press is held after it has counted the attempts and
    before it stores its launch, and the second press arrives then. Counted outside the lock,
    both would see one used and launch: three attempts of two. Under it, the second waits,
    then finds the first's launch and signs that one again."""
    student, exam = make_user("asha@example.com"), make_exam("Twice", attempts_allowed=2)
    make_attempt(student, exam, **SCORED, score=10.0)
    student_id, exam_id = student.id, exam.id
    reached, release = threading.Event(), threading.Event()
    real = launch._new_launch

    def held(*args, **kwargs):
        if not reached.is_set():
            reached.set()
            assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(launch, "_new_launch", held)

    def logged_in():
        # In a thread of its own: in this one the test's app context, and its `g`, would
        # carry the first login's user into the second, which would then not log in.
        client = app.test_client()
        thread, _ = in_thread(lambda: client.post("/login", data={"email": "asha@example.com", "password": PASSWORD}))
        thread.join(30)
        return client

    def press(client):
        response = client.post(f"/exams/{exam_id}/start")
        return response.status_code, re.findall(r'name="institute_attempt_id" value="(\d+)"',
                                                response.get_data(as_text=True))

    one, other = logged_in(), logged_in()  # logged in first: argon2 takes a while
    first, first_answer = in_thread(lambda: press(one))
    assert reached.wait(10)  # the first has counted 1 of 2 used, under the lock
    second, second_answer = in_thread(lambda: press(other))
    second.join(0.5)  # waiting for the lock, not yet decided
    release.set()
    first.join(10), second.join(10)

    [(first_status, first_reference)], [(second_status, second_reference)] = first_answer, second_answer
    assert (first_status, second_status) == (200, 200)
    assert first_reference == second_reference  # one launch, signed twice
    assert attempts_of(student_id) == 2

    # And a third press, now that both are used and the launch is completed, is refused.
    db.session.execute(sa.update(Attempt).values(status="completed"))
    db.session.commit()
    third, third_answer = in_thread(lambda: press(one))
    third.join(10)
    assert third_answer[0][0] == 403
    assert attempts_of(student_id) == 2


def test_attempts_allowed_is_enforced_by_the_service_for_the_cli_and_demo_too(app):
    student, exam = make_user(), make_exam("Twice", attempts_allowed=2)
    for _ in range(2):
        launch.record_launch(student, exam)
        db.session.execute(sa.update(Attempt).values(status="completed"))
        db.session.commit()

    with pytest.raises(launch.AttemptsUsedUp):
        launch.resume_or_launch(student, exam)
    assert attempts_of(student.id) == 2


# -- which attempt counts --------------------------------------------------------------------------


@pytest.mark.parametrize("rule, expected", [("best", "Best: 16 / 20"), ("latest", "Latest: 9 / 20"),
                                            ("first", "First: 12 / 20")])
def test_the_card_shows_the_counting_score_by_the_exams_rule(client, student, rule, expected):
    exam = make_exam("Mock", counting_rule=rule)
    now = utcnow()
    for days, score in ((3, 12.0), (2, 16.0), (1, 9.0)):
        make_attempt(student, exam, **SCORED, score=score, started_at=now - timedelta(days=days))
    # Neither an unscored later attempt nor another student's better one counts.
    make_attempt(student, exam, status="cancelled", started_at=now)
    make_attempt(make_user(), exam, **SCORED, score=20.0, started_at=now - timedelta(days=4))

    card = exam_card(client.get("/exams/"), "Mock")

    assert expected in card
    assert "4 attempts" in card


def test_best_is_the_highest_percentage_not_the_highest_raw_score(client, student):
    exam = make_exam("Mock", counting_rule="best")
    now = utcnow()
    # Re-marked out of 10, the earlier attempt's 8 is 80%: better than a later 12 / 20 (60%).
    make_attempt(student, exam, status="completed", score_source="webhook", score=8.0, max_score=10.0,
                 percentage=80.0, started_at=now - timedelta(days=2))
    make_attempt(student, exam, status="completed", score_source="webhook", score=12.0, max_score=20.0,
                 percentage=60.0, started_at=now - timedelta(days=1))

    assert "Best: 8 / 10" in exam_card(client.get("/exams/"), "Mock")


def test_a_score_without_its_percentage_never_outranks_a_complete_one(client, student):
    exam = make_exam("Mock", counting_rule="best")
    now = utcnow()
    make_attempt(student, exam, status="completed", score_source="webhook", score=10.0, max_score=20.0,
                 percentage=50.0, started_at=now - timedelta(days=2))
    make_attempt(student, exam, status="completed", score_source="webhook", score=19.0,
                 started_at=now - timedelta(days=1))

    assert "Best: 10 / 20" in exam_card(client.get("/exams/"), "Mock")


def test_among_equal_percentages_the_first_to_reach_it_counts(client, student):
    exam = make_exam("Mock", counting_rule="best")
    now = utcnow()
    # 50% twice, out of different totals (the webhook's percentage, no maximum, for the later one).
    make_attempt(student, exam, status="completed", score_source="webhook", score=5.0, max_score=10.0,
                 percentage=50.0, started_at=now - timedelta(days=2))
    make_attempt(student, exam, status="completed", score_source="webhook", score=10.0,
                 percentage=50.0, started_at=now - timedelta(days=1))

    assert "Best: 5 / 10" in exam_card(client.get("/exams/"), "Mock")


def test_an_exam_without_a_scored_attempt_shows_no_counting_score(client, student):
    exam = make_exam("Mock")
    make_attempt(student, exam, status="pending")

    card = exam_card(client.get("/exams/"), "Mock")

    assert "Best:" not in card and "1 attempt" in card


def test_the_counting_statement_ranks_students_by_exams_for_a_gradebook(app):
    """The same statement the card uses, for every student at every exam at once."""
    asha, ravi = make_user(), make_user()
    best, first = make_exam("Best", counting_rule="best"), make_exam("First", counting_rule="first")
    now = utcnow()
    for student, exam, days, score in ((asha, best, 2, 5.0), (asha, best, 1, 8.0), (ravi, best, 1, 3.0),
                                       (asha, first, 2, 4.0), (asha, first, 1, 19.0)):
        make_attempt(student, exam, **SCORED, score=score, started_at=now - timedelta(days=days))

    rows = db.session.execute(counting_attempts()).all()

    assert sorted((row.student_id, row.exam_id, row.score, row.attempts_used) for row in rows) == sorted([
        (asha.id, best.id, 8.0, 2), (ravi.id, best.id, 3.0, 1), (asha.id, first.id, 4.0, 2)])


def test_the_exam_list_runs_as_many_statements_for_many_exams_with_rules_as_for_one(make_app):
    app = make_app()
    with app.app_context():
        student = make_user()
        batch = batch_of("Morning", student)
        few = [make_exam("Mock 0", attempts_allowed=3, batches=[batch])]
        for exam in few:
            make_attempt(student, exam, **SCORED, score=10.0)
        email, engine = student.email, db.engine
    statements = []

    def count_page() -> int:
        client = app.test_client()
        client.post("/login", data={"email": email, "password": PASSWORD})
        statements.clear()
        assert client.get("/exams/").status_code == 200
        return len(statements)

    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    one = count_page()
    with app.app_context():
        student = db.session.merge(student)
        batch = db.session.merge(batch)
        for n in range(1, 12):
            exam = make_exam(f"Mock {n}", attempts_allowed=n % 3 or None,
                             counting_rule=("best", "latest", "first")[n % 3],
                             batches=[batch] if n % 2 else [])
            make_attempt(student, exam, **SCORED, score=float(n))
    many = count_page()

    assert one == many


# -- instructions and the staff preview ------------------------------------------------------------


def test_instructions_are_on_the_card_above_the_start_button(client, student):
    make_exam("Mock", instructions="90 minutes.\nNo calculators.")

    response = client.get("/exams/")
    card = exam_card(response, "Mock")

    assert "Before you start 90 minutes. No calculators." in card
    html = response.get_data(as_text=True)
    assert html.index("No calculators.") < html.index(">Start</button>")


def test_staff_opening_the_students_list_preview_it_without_start_buttons(client, auth):
    make_staff("boss@example.com")
    batch = batch_of("Morning")
    make_exam("For morning", batches=[batch])
    make_exam("For everyone")
    make_exam("Draft", published=False)
    auth.login("boss@example.com")

    response = client.get("/exams/")
    text = page_text(response)

    assert "You are previewing the students' exam list as staff" in text
    assert "For: Morning" in exam_card(response, "For morning")
    assert "For: Everyone" in exam_card(response, "For everyone")
    assert "Draft" not in text
    assert "/start" not in response.get_data(as_text=True)  # no Start form at all
    assert "Staff preview: students press Start here." in exam_card(response, "For everyone")


def test_staff_cannot_start_an_exam_as_if_a_student(client, auth):
    staff = make_staff("boss@example.com")
    exam = make_exam("For everyone")
    auth.login("boss@example.com")

    response = client.post(f"/exams/{exam.id}/start")

    assert response.status_code == 403 and "log in with a student account" in page_text(response)
    assert attempts_of(staff.id) == 0


def test_the_exam_for_everyone_lists_nobody_out(client, student):
    """An exam with no batches is for every student, in a batch or not."""
    batch_of("Morning", make_user())
    exam = make_exam("Open to all")

    assert "Open to all" in page_text(client.get("/exams/"))
    assert client.post(f"/exams/{exam.id}/start").status_code == 200
    assert attempts_of(student.id) == 1


def test_a_launch_testpress_never_saw_uses_no_attempt_allowed_until_it_reports(client, student):
    """#25 item 3: Testpress did not open. The launch is kept, to resume, and uses none of the
    attempts allowed; once Testpress's return comes, it is one."""
    from tests.attempts.test_reconcile import return_fields

    exam = make_exam("Once Only", attempts_allowed=1)
    launched = make_attempt(student, exam, status="launched", institute_attempt_id=424242)
    db.session.commit()

    card = exam_card(client.get("/exams/"), "Once Only")
    assert "0 of 1 attempt used" in card and "Resume" in card

    assert client.post("/testpress/return", data=return_fields(launched)).status_code == 303
    card = exam_card(client.get("/exams/"), "Once Only")
    assert "1 of 1 attempt used" in card and "You have used every attempt allowed." in card
