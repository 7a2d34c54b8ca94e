"""The domain vocabulary (portal/vocabulary.py): its rules, the database's CHECKs on it, and
the pages that ask it for their words."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from portal.core.clock import utcnow
from portal.core.database import init_database
from portal.core.extensions import db
from portal.models import Attempt, AttemptReport, UnmatchedReport
from portal.vocabulary import (
    OPEN_STATUSES,
    RESUMABLE_STATUSES,
    UNFINISHED_STATUSES,
    AttemptStatus,
    ExamState,
    ReportSource,
)
from tests.factories import make_attempt, make_exam, make_staff, make_user


def test_status_moves_only_forward_in_the_declared_order():
    order = ["launched", "started", "cancelled", "pending", "completed"]
    for earlier, later in zip(order, order[1:]):
        assert AttemptStatus(earlier).moves_to(later)
        assert not AttemptStatus(later).moves_to(earlier)
    assert not AttemptStatus.STARTED.moves_to("started")
    with pytest.raises(ValueError):
        AttemptStatus.STARTED.moves_to("finished")


def test_resumable_and_open_statuses():
    assert RESUMABLE_STATUSES == ("launched", "started", "cancelled")
    assert OPEN_STATUSES == ("launched", "started")
    # A paused ("Take later") launch is not in progress, but a report may still finish it.
    assert UNFINISHED_STATUSES == ("launched", "started", "cancelled")


def test_every_resumable_status_has_one_name_for_students_and_none_reads_cancelled():
    assert {status.student_label for status in RESUMABLE_STATUSES} == {"In progress"}
    assert all("ancel" not in status.student_label for status in AttemptStatus)
    assert AttemptStatus.CANCELLED.staff_label == "Paused (Take later)"


def test_sources_trust_and_signatures():
    assert ReportSource.API.trust >= ReportSource.WEBHOOK.trust > ReportSource.RETURN.trust
    assert [source for source in ReportSource if source.signed] == ["webhook", "api"]


def test_members_are_the_stored_strings():
    assert AttemptStatus.COMPLETED == "completed" and f"{AttemptStatus.COMPLETED}" == "completed"
    assert ReportSource("api") is ReportSource.API


def test_exam_state(app):
    now = utcnow()
    assert make_exam().state(now) == ExamState.OPEN
    assert make_exam(published=False).state(now) == ExamState.UNPUBLISHED
    assert make_exam(opens_at=now + timedelta(hours=1)).state(now) == ExamState.UPCOMING
    assert make_exam(closes_at=now).state(now) == ExamState.CLOSED


# -- the database refuses a word outside the vocabulary ------------------------------------


@pytest.fixture(params=["migrations", "models"])
def database(request, make_app):
    """An app context on a database built by the migrations (as init-db builds it), or by
    the models (as the tests' other fixtures build it)."""
    app = make_app()
    with app.app_context():
        if request.param == "migrations":
            db.drop_all()
            init_database()
        yield


def _attempt_with_a_report() -> Attempt:
    attempt = make_attempt(make_user(), make_exam(), status="completed", score_source="webhook")
    db.session.add(AttemptReport(attempt_id=attempt.id, source="webhook", status="completed"))
    db.session.commit()
    return attempt


@pytest.mark.parametrize(("model", "column", "bad"), [
    (Attempt, "status", "finished"),
    (Attempt, "score_source", "email"),
    (AttemptReport, "status", "Completed"),
    (AttemptReport, "source", "browser"),
])
def test_the_database_refuses_a_status_or_source_outside_the_vocabulary(database, model, column, bad):
    _attempt_with_a_report()
    table = model.__table__

    with pytest.raises(sa.exc.IntegrityError, match=f"ck_{table.name}_{column}|CHECK constraint failed"):
        db.session.execute(table.update().values({column: bad}))
    db.session.rollback()

    assert db.session.scalar(sa.select(table.c[column])) in {"completed", "webhook"}  # unchanged


def test_the_database_takes_every_word_of_the_vocabulary(database):
    """So that a word added to the vocabulary without its migration fails here, not in production."""
    attempt = _attempt_with_a_report()
    for status in AttemptStatus:
        db.session.execute(sa.update(Attempt).values(status=status))
        db.session.execute(sa.update(AttemptReport).values(status=status))
    for source in ReportSource:
        db.session.execute(sa.update(Attempt).values(score_source=source))
        db.session.execute(sa.update(AttemptReport).values(source=source))
    db.session.commit()

    db.session.refresh(attempt)
    assert (attempt.status, attempt.score_source, attempt.reports[0].source) == ("completed", "api", "api")


def test_the_database_keeps_unmatched_reports_to_signed_sources(database):
    row = {"testpress_attempt_id": "9", "reason": "no portal student", "payload": "{}", "received_at": utcnow()}
    table = UnmatchedReport.__table__

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(table.insert().values(source="return", **row))
    db.session.rollback()
    db.session.execute(table.insert().values(source="api", **row))

    assert db.session.scalar(sa.select(table.c.source)) == "api"


def test_the_vocabulary_migration_goes_down_and_up_again(make_app):
    app = make_app()
    with app.app_context():
        db.drop_all()
        init_database()
        _attempt_with_a_report()

        downgrade(revision="0004_rate_limits")
        db.session.execute(sa.update(Attempt).values(status="finished"))  # no CHECK below 0005
        db.session.execute(sa.update(Attempt).values(status="completed"))
        db.session.commit()
        upgrade()

        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(Attempt).values(status="finished"))
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(AttemptReport.id))) == 1  # rebuilt tables keep rows


# -- pages ask the vocabulary ---------------------------------------------------------------


@pytest.fixture
def staff_client(client, auth):
    auth.login(make_staff().email)
    return client


def text_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_staff_filter_offers_every_status_with_its_staff_label(staff_client):
    html = staff_client.get("/admin/attempts/", query_string={"status": "cancelled"}).get_data(as_text=True)
    html = html.split('<select id="status"', 1)[1].split("</select>", 1)[0]  # the status filter's choices

    options = re.findall(r'<option value="(\w+)" (selected)?>([^<]+)</option>', html)
    assert [(value, label) for value, _, label in options] == [
        (status.value, status.staff_label) for status in AttemptStatus]
    assert [value for value, selected, _ in options if selected] == ["cancelled"]


def test_staff_see_the_precise_state_and_the_source_by_name(staff_client):
    attempt = make_attempt(make_user(), make_exam(), status="cancelled")
    scored = make_attempt(make_user(), make_exam(), status="completed", score=3, score_source="api")

    assert "Status Paused (Take later)" in text_of(staff_client.get(f"/admin/attempts/{attempt.id}"))
    assert "from Admin API" in text_of(staff_client.get(f"/admin/attempts/{scored.id}"))


def test_dashboard_counts_open_attempts_as_in_progress(staff_client):
    exam, student = make_exam(), make_user()
    for status in ("launched", "started", "started", "cancelled", "completed"):
        make_attempt(student, exam, status=status)

    html = staff_client.get("/admin/").get_data(as_text=True)

    assert "<b>3</b><span>in progress</span>" in html
    assert "<b>1</b><span>Paused (Take later)</span>" in html
    assert "<b>1</b><span>completed</span>" in html


def test_staff_exam_list_shows_each_exams_state(staff_client):
    now = utcnow()
    make_exam("Live")
    make_exam("Draft", published=False)
    make_exam("Soon", opens_at=now + timedelta(days=1))
    make_exam("Over", closes_at=now - timedelta(days=1))

    html = staff_client.get("/admin/exams/").get_data(as_text=True)

    # Whether students may see it (draft or published), then where its times put it.
    states = {}
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S)[1:]:  # after the header
        title = re.search(r">(\w+)</a>", row)[1]
        states[title] = tuple(re.findall(r'<span class="badge badge-\w+">(\w+)</span>', row))
    assert states == {"Live": ("Published", "Open"), "Draft": ("Draft", "Open"), "Soon": ("Published", "Upcoming"),
                      "Over": ("Published", "Closed")}
