"""The student's pages run the same statements whatever the history's length, and never show a stale chart."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from tests.factories import PASSWORD, make_attempt, make_exam, make_user

COMPLETED = dict(status="completed", score=12.0, max_score=20.0, percentage=60.0, score_source="webhook")


def student_with(attempts: int, exams: list):
    student = make_user()
    now = utcnow()
    ids = [make_attempt(student, exams[n % len(exams)], **COMPLETED, testpress_attempt_id=f"{student.id}-{n}",
                        started_at=now - timedelta(hours=n)).id
           for n in range(attempts)]
    return student.email, ids


@pytest.mark.parametrize(("page", "fewer"), [("/exams/", 5), ("/attempts/", 5), ("/attempts/?exam={exam}", 5),
                                             ("result", 5), ("/attempts/?page=2", 25)])  # 25: a second page
def test_a_page_runs_as_many_statements_for_50_attempts_as_for_fewer(make_app, page, fewer):
    app = make_app()
    with app.app_context():
        exams = [make_exam(f"Mock {n}") for n in range(3)]
        exam_id, engine = exams[0].id, db.engine
        students = [student_with(attempts, exams) for attempts in (fewer, 50)]
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    # No app context held around the requests: each has its own session and its own `g`, as in a server.
    for email, ids in students:
        client = app.test_client()
        client.post("/login", data={"email": email, "password": PASSWORD})
        statements.clear()
        response = client.get(f"/attempts/{ids[0]}" if page == "result" else page.format(exam=exam_id))
        assert response.status_code == 200
        counts.append(len(statements))

    assert counts[0] == counts[1]


def test_the_chart_shows_a_changed_score_at_once(client, auth):
    student = make_user()
    auth.login(student.email)
    attempt = make_attempt(student, make_exam("Physics"), **COMPLETED)
    before = client.get("/attempts/").get_data(as_text=True)

    attempt.percentage = 85.0  # as a webhook's re-evaluation records it
    db.session.commit()
    after = client.get("/attempts/").get_data(as_text=True)

    assert re.findall(r"<title>Physics, [^<]*: ([\d.]+)%</title>", before) == ["60.0"]
    assert re.findall(r"<title>Physics, [^<]*: ([\d.]+)%</title>", after) == ["85.0"]


def test_the_chart_is_only_the_students_own(client, auth):
    physics = make_exam("Physics")
    other = make_user()
    make_attempt(other, physics, **{**COMPLETED, "percentage": 99.0})
    auth.login(other.email)
    client.get("/attempts/")  # the other student's chart drawn first
    auth.logout()
    student = make_user()
    make_attempt(student, physics, **{**COMPLETED, "percentage": 41.0})
    auth.login(student.email)

    html = client.get("/attempts/").get_data(as_text=True)

    assert re.findall(r"<title>Physics, [^<]*: ([\d.]+)%</title>", html) == ["41.0"]
