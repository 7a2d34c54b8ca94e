"""Standings, the gradebook and exam reports: what staff read of results."""

import csv
import io
import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.attempts import standings
from portal.attempts.launching import record_launch
from portal.attempts.reconciliation import record_report
from portal.core.clock import to_local
from portal.core.extensions import db
from portal.models import Attempt, Standing, SyncRun, exam_batches
from portal.people.batches import add_members, create_batch, new_batch
from portal.results import Report
from portal.testpress.sync import PageRecorder, record_page
from tests.attempts.test_integrity import api_attempt
from tests.conftest import ON_POSTGRESQL
from tests.factories import make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_return import signed_return
from tests.web.testpress.test_webhook import completed_payload, post, signed_body, started_payload


@pytest.fixture
def staff_client(client, auth):
    make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return client


def scored(student, exam, score, *, days_ago=0, source="api", **fields):
    fields = {"max_score": 20, "percentage": score * 5, **fields}
    return make_attempt(student, exam, status="completed", score=score,
                        score_source=source, started_at=datetime(2026, 11, 20) + timedelta(days=10 - days_ago),
                        completed_at=datetime(2026, 11, 20, 12) + timedelta(days=10 - days_ago), **fields)


def standing(student, exam) -> Standing | None:
    db.session.expire_all()
    return db.session.get(Standing, (student.id, exam.id))


def recount() -> set[tuple]:
    """Every standing as derived from scratch, to compare with the kept ones."""
    kept = {tuple(row) for row in db.session.execute(sa.select(*Standing.__table__.c))}
    standings.rebuild(db.session)
    derived = {tuple(row) for row in db.session.execute(sa.select(*Standing.__table__.c))}
    db.session.rollback()
    return kept, derived


@pytest.mark.parametrize("rule, counted", [("best", 18), ("latest", 9), ("first", 12)])
def test_the_standing_is_the_attempt_the_exams_rule_counts(app, rule, counted):
    exam, student = make_exam(counting_rule=rule), make_user()
    scored(student, exam, 12, days_ago=3)
    scored(student, exam, 18, days_ago=2)
    scored(student, exam, 9, days_ago=1)
    make_attempt(student, exam, status="launched")  # Testpress has not seen it: neither used nor counting
    row = standing(student, exam)
    assert (row.score, row.attempts_used) == (counted, 3)


def test_standings_follow_every_recording_and_a_rule_change(app):
    exam, student = make_exam(), make_user()
    attempt = make_attempt(student, exam, status="launched")  # uses no attempt until Testpress sees it (#25 item 3)
    assert standing(student, exam).attempt_id is None and standing(student, exam).attempts_used == 0
    record_report(attempt, Report(source="return", status="completed", score=10, max_score=20, percentage=50.0))
    db.session.commit()
    row = standing(student, exam)  # the browser's 10 alone: pending, counting for nothing
    assert (row.attempt_id, row.score, row.pending_attempt_id) == (None, None, attempt.id)
    record_report(attempt, Report(source="webhook", status="completed", testpress_attempt_id="T1", score=14,
                                  percentage=70.0, correct_count=7))
    db.session.commit()
    row = standing(student, exam)
    assert (row.score, row.verified, row.flagged, row.pending_attempt_id) == (
        14, True, True, None)  # the return claimed 10
    scored(student, exam, 16, days_ago=5)
    assert standing(student, exam).score == 16
    exam.counting_rule = "latest"
    db.session.commit()
    assert standing(student, exam).score == 14
    kept, derived = recount()
    assert kept == derived


def test_a_rolled_back_recording_leaves_the_standing_as_it_was(app):
    exam, student = make_exam(), make_user()
    attempt = scored(student, exam, 10)
    attempt.score = 19
    db.session.flush()
    db.session.rollback()
    assert standing(student, exam).score == 10


def test_a_pair_left_without_attempts_loses_its_standing_and_the_others_are_written_over(app):
    """A result changed writes the pair's standing over the old row; an attempt deleted or
    moved to another exam takes the pair's row with it."""
    first, second, student = make_exam(), make_exam(), make_user()
    moved, kept = scored(student, first, 10), scored(student, second, 12)
    kept.score, kept.percentage = 15, 75.0
    db.session.commit()
    assert standing(student, second).score == 15

    moved.exam = second
    db.session.commit()
    assert standing(student, first) is None
    assert (standing(student, second).score, standing(student, second).attempts_used) == (15, 2)

    db.session.delete(kept)
    db.session.delete(moved)
    db.session.commit()
    assert standing(student, second) is None
    kept, derived = recount()
    assert kept == derived


def seed_batch_results():
    physics = new_batch("Physics 2027")  # unaudited: a test pages past the end of an empty audit log
    exam = make_exam("Mock 1")
    other_exam = make_exam("Mock 2")
    draft = make_exam("Draft exam", published=False)
    asha, ravi, zoya = make_user("asha@example.com", "Asha"), make_user("ravi@example.com", "Ravi"), make_user(
        "zoya@example.com", "=Zoya")
    outsider = make_user("out@example.com", "Outsider")
    add_members(physics, [asha, ravi, zoya])
    db.session.commit()
    scored(asha, exam, 12, days_ago=2)
    scored(asha, exam, 17, days_ago=1, source="return")
    scored(ravi, exam, 19)
    make_attempt(zoya, exam, status="started")
    scored(outsider, exam, 20)
    scored(ravi, other_exam, 8)
    return physics, exam, other_exam, draft


def test_the_gradebook_shows_each_students_counting_score_and_blanks(staff_client):
    physics, exam, other_exam, draft = seed_batch_results()
    page = staff_client.get(f"/admin/gradebook/?batch={physics.id}").get_data(as_text=True)
    assert "Outsider" not in page and "Draft exam" not in page
    assert "Mock 1" in page and "Mock 2" in page and "3 students" in page
    # Asha's best counts among Testpress's own scores; the browser's 17 is apart, pending.
    assert "12 / 20" in page and "60.0% · 2 tried" in page and "pending: claims 17 / 20, 85.0%" in page
    assert "19 / 20" in page and "no verified score" in page  # Zoya has only an unfinished attempt
    assert page.index("Asha") < page.index("Ravi")  # by name


def test_an_exam_unpublished_after_students_took_it_keeps_its_gradebook_column(staff_client):
    exam = make_exam("Mid-term", published=True)
    scored(make_user("asha@example.com", "Asha Rao"), exam, 14)
    make_exam("Never taken", published=False)
    assert staff_client.post(f"/admin/exams/{exam.id}/publish", data={"published": "0"}).status_code == 302

    page = staff_client.get("/admin/gradebook/").get_data(as_text=True)
    assert "Mid-term" in page and "14 / 20" in page
    assert "Never taken" not in page  # a draft nobody took is still no column
    header, row = csv_of(staff_client.get("/admin/gradebook.csv"))
    assert "Never taken: score" not in header
    assert row[header.index("Mid-term: score")] == "14 / 20" and row[header.index("Mid-term: percentage")] == "70.00"


def test_the_gradebook_reads_its_columns_in_one_statement_however_many_exams(app, staff_client):
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def count() -> int:
        db.session.expire_all()
        statements.clear()
        assert staff_client.get("/admin/gradebook/").status_code == 200
        return len(statements)

    student = make_user("asha@example.com", "Asha Rao")
    scored(student, make_exam("Draft taken", published=False), 10)
    before = count()
    for number in range(4):
        scored(student, make_exam(f"Draft taken {number}", published=False), number)
        make_exam(f"Draft {number}", published=False)
    assert count() == before
    assert "Draft taken 3" in staff_client.get("/admin/gradebook/").get_data(as_text=True)


def test_the_gradebook_sorts_by_an_exams_score_highest_first(staff_client):
    physics, exam, *_ = seed_batch_results()
    page = staff_client.get(f"/admin/gradebook/?batch={physics.id}&sort={exam.id}").get_data(as_text=True)
    assert page.index("Ravi") < page.index("Asha") < page.index("=Zoya")  # 19, 17, none


def test_the_gradebook_for_a_batch_has_only_the_exams_offered_to_it(staff_client):
    physics, exam, other_exam, _ = seed_batch_results()
    chemistry = create_batch("Chemistry", by=None)
    db.session.execute(sa.insert(exam_batches), [{"exam_id": other_exam.id, "batch_id": chemistry.id}])
    db.session.commit()
    page = staff_client.get(f"/admin/gradebook/?batch={physics.id}").get_data(as_text=True)
    assert "Mock 1" in page and "Mock 2" not in page


def test_the_gradebook_csv_is_what_is_shown_and_formula_safe(staff_client):
    physics, exam, other_exam, _ = seed_batch_results()
    response = staff_client.get(f"/admin/gradebook.csv?batch={physics.id}&sort={exam.id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="gradebook-Physics-2027.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:6] == ["email", "name", "Mock 1: score", "Mock 1: percentage", "Mock 1: attempts",
                           "Mock 1: unverified claims"]
    assert [row[1] for row in rows[1:]] == ["Ravi", "Asha", "'=Zoya"]
    assert rows[2][2:6] == ["12 / 20", "60.00", "2", "pending 17 / 20, 85.0%"]
    assert rows[3][2:6] == ["", "", "1", ""]


def csv_of(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_negative_marks_stay_numbers_in_the_gradebook_and_rank_csvs(staff_client):
    exam = make_exam("Negative Marking", published=True)
    make_attempt(make_user("neg@example.com", "Neg Student"), exam, status="completed", score=-2.0, max_score=20.0,
                 percentage=-10.0, score_source="api", completed_at=datetime(2026, 11, 20, 12))

    header, row = csv_of(staff_client.get("/admin/gradebook.csv"))
    assert row[header.index("Negative Marking: percentage")] == "-10.00"
    # "-2 / 20" is a sum a spreadsheet would work out (-0.1): it keeps its quote; the percentage is the number.
    assert row[header.index("Negative Marking: score")] == "'-2 / 20"
    header, row = csv_of(staff_client.get(f"/admin/exams/{exam.id}/report.csv"))
    assert (row[header.index("score")], row[header.index("percentage")]) == ("-2", "-10.00")


def test_an_unknown_batch_is_a_404_and_a_stale_sort_falls_back_to_names(staff_client):
    seed_batch_results()
    assert staff_client.get("/admin/gradebook/?batch=999").status_code == 404
    assert staff_client.get("/admin/gradebook/?sort=999").status_code == 200
    assert staff_client.get("/admin/gradebook/?batch=abc").status_code == 400


def test_the_exam_report_figures_against_known_answers(staff_client):
    exam = make_exam("Known answers")
    students = [make_user(f"s{i}@example.com", f"Student {i}") for i in range(5)]
    for student, score, days_ago in zip(students, (4, 10, 10, 16, 19), (3, 3, 2, 1, 0)):
        scored(student, exam, score, days_ago=days_ago)
    scored(students[0], exam, 2, days_ago=4, source="return")  # a worse retake: best counts
    make_attempt(make_user("late@example.com", "Late"), exam, status="started")
    students[4].attempts[0].flagged = True
    db.session.commit()
    page = staff_client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)
    # Percentages 20, 50, 50, 80, 95: mean 59, median 50, top 95; 5 of 6 students completed.
    for expected in ("<dd>6</dd>", "<dd>7</dd>", "5 (83.3%)", "59.0%", "<dd>50.0%</dd>", "95.0%"):
        assert expected in page, expected
    assert 'class="chart chart-compact chart-histogram"' in page and "chart-timeline" in page
    rows = list(csv.reader(io.StringIO(staff_client.get(f"/admin/exams/{exam.id}/report.csv")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    # 95, 80, 50, 50, 20: the two at 50% share a rank, and the next is fifth.
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "3", "5", ""]
    assert rows[1][1] == "s4@example.com" and rows[1][7] == "yes"  # flagged
    assert rows[-1][1] == "late@example.com" and rows[-1][3] == ""


def test_the_reports_flagged_figure_counts_what_its_link_lists(staff_client):
    import re
    exam = make_exam("Flags")
    asha, ravi = make_user("asha@example.com", "Asha"), make_user("ravi@example.com", "Ravi")
    scored(asha, exam, 18)  # counts (best)
    scored(asha, exam, 6, days_ago=1, flagged=True, flag_reason="x")  # a flagged retake that does not count
    scored(ravi, exam, 12, flagged=True, flag_reason="x")  # a flagged attempt that counts
    scored(ravi, make_exam("Other"), 12, flagged=True, flag_reason="x")  # another exam's flag

    page = staff_client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)
    figure = re.search(r'<dt>Flagged attempts \(counting or not\)</dt><dd><a href="([^"]+)">(\d+)</a></dd>', page)
    listed = staff_client.get(figure.group(1).replace("&amp;", "&")).get_data(as_text=True)

    assert figure.group(2) == "2"
    assert len(re.findall(r'href="/admin/attempts/(\d+)"', listed)) == 2


def report_figures(client, exam) -> tuple[dict[str, str], list[tuple[str, str]], list[tuple[str, tuple]]]:
    """The report's figures and its completions per day as the page shows them, with the
    statements the page ran (and their parameters)."""
    statements = []

    def keep(connection, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    db.session.expire_all()  # nothing read before may spare a statement
    sa.event.listen(db.engine, "before_cursor_execute", keep)
    try:
        page = client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", keep)
    figures = {term: re.sub(r"<[^>]+>", "", value)
               for term, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page)}
    days = re.findall(r'<td data-label="Day">([^<]+)</td><td class="num" data-label="Completed">(\d+)</td>', page)
    return figures, days, statements


def figures_from_the_attempts(exam) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """What the report should say, worked out here from the exam's attempts themselves (its
    rule is best): nothing the portal keeps at write time is read."""
    attempts = db.session.scalars(sa.select(Attempt).where(Attempt.exam_id == exam.id)).all()
    scored = [a for a in attempts if a.status == "completed" and a.score is not None]
    best = {}
    for attempt in sorted((a for a in scored if a.score_source in ("webhook", "api")),
                          key=lambda a: (-a.percentage, a.started_at, a.id)):
        best.setdefault(attempt.student_id, attempt)
    percentages = sorted(attempt.percentage for attempt in best.values())
    students = len({attempt.student_id for attempt in attempts})
    figures = {
        "Students who attempted": str(students),
        "Attempts": str(sum(attempt.status != "launched" for attempt in attempts)),  # a launch uses none
        "Completed (with a verified score)": f"{len(best)} ({100 * len(best) / students:.1f}%)",
        "Mean": f"{sum(percentages) / len(percentages):.1f}%",
        "Median": f"{percentages[len(percentages) // 2]:.1f}%" if len(percentages) % 2 else
                  f"{(percentages[len(percentages) // 2 - 1] + percentages[len(percentages) // 2]) / 2:.1f}%",
        "Top": f"{percentages[-1]:.1f}%",
        "Pending (a score only the browser reported, counted nowhere)":
            str(len({a.student_id for a in scored if a.score_source == "return"})),
        "Flagged attempts (counting or not)": str(sum(attempt.flagged for attempt in attempts)),
    }
    days = sorted(Counter(to_local(attempt.completed_at).date() for attempt in best.values()).items())
    return figures, [(day.strftime("%d %b %Y"), str(count)) for day, count in days]


def test_the_exam_report_says_what_its_attempts_say_after_webhooks_returns_syncs_and_flags(staff_client):

    client = staff_client
    exam = make_exam("Physics Mock 1", testpress_id=12)
    asha = make_user("asha@example.com", "Asha", testpress_user_id=311)
    ravi = make_user("ravi@example.com", "Ravi", testpress_user_id=533)
    meera = make_user("meera@example.com", "Meera", testpress_user_id=422)
    zoya = make_user("zoya@example.com", "Zoya", testpress_user_id=644)
    make_user("idle@example.com", "Idle")  # attempts nothing: in no figure

    def webhook(**changes):
        assert post(client, signed_body(completed_payload(**changes))).status_code == 200

    def sync(*attempts):
        run = SyncRun()
        db.session.add(run)
        db.session.commit()
        record_page(PageRecorder(None, run), list(attempts))

    # Asha and Zoya return claiming 57.5%, then the webhook says 81.5%: both flagged.
    for student, testpress_id, day in ((asha, 68701, 20), (zoya, 68702, 21)):
        launched = record_launch(student, exam)
        assert client.post("/testpress/return", data=signed_return(launched, attempt_id=str(testpress_id))
                           ).status_code == 303
        webhook(institute_attempt_id=launched.institute_attempt_id, attempt_id=testpress_id,
                email=student.email, user_id=student.testpress_user_id,
                completed_on=f"2025-11-{day}T09:55:00.000000Z")
    # Ravi's return alone: pending, no verified score. Meera only launched.
    ravi_launch = record_launch(ravi, exam)
    assert client.post("/testpress/return", data=signed_return(ravi_launch, attempt_id="68703")).status_code == 303
    record_launch(meera, exam)
    # An attempt Asha took outside the portal, started by a webhook and completed by a sync,
    # which also brings Ravi's and Meera's first verified results.
    assert post(client, signed_body(started_payload(attempt_id=9002))).status_code == 200
    sync(api_attempt(9002, "asha@example.com", 311, percentage=66.0),
         api_attempt(9003, "ravi@example.com", 533, percentage=40.0, completed_on="2026-12-01T09:55:00Z"),
         api_attempt(9004, "meera@example.com", 422, percentage=12.5, completed_on="2026-12-01T11:00:00Z"))
    # Staff accept the signed score of Asha's flagged attempt: one flag left.
    flagged = db.session.scalar(sa.select(Attempt.id).where(Attempt.student_id == asha.id, Attempt.flagged.is_(True)))
    assert client.post(f"/admin/attempts/{flagged}/flag/accepted", data={}).status_code == 302

    figures, days, few = report_figures(client, exam)
    expected = figures_from_the_attempts(exam)
    assert (figures, days) == expected
    # Not an empty report agreeing with nothing: every part has something in it.
    assert (figures["Flagged attempts (counting or not)"], figures["Students who attempted"]) == ("1", "4")
    assert figures["Pending (a score only the browser reported, counted nowhere)"] == "1"
    assert days == [("20 Nov 2025", "1"), ("21 Nov 2025", "1"), ("01 Dec 2026", "2")]

    # Many more attempts, of every kind: the figures follow them, the statements stay.
    sync(*(api_attempt(9100 + n, email, user_id, percentage=float(n % 97),
                       date=f"2026-12-{2 + n % 5:02d}T08:00:00Z", completed_on=f"2026-12-{2 + n % 5:02d}T09:00:00Z")
           for n, (email, user_id) in enumerate([("ravi@example.com", 533), ("meera@example.com", 422)] * 20)))
    for testpress_id in range(9200, 9205):
        assert post(client, signed_body(started_payload(attempt_id=testpress_id))).status_code == 200
    zoya_retake = record_launch(zoya, exam)
    assert client.post("/testpress/return", data=signed_return(zoya_retake, attempt_id="68704")).status_code == 303
    webhook(institute_attempt_id=zoya_retake.institute_attempt_id, attempt_id=68704, email=zoya.email,
            user_id=zoya.testpress_user_id, percentage="99.00", completed_on="2026-12-03T09:55:00.000000Z")

    figures, days, many = report_figures(client, exam)
    assert (figures, days) == figures_from_the_attempts(exam)
    assert figures["Flagged attempts (counting or not)"] == "2" and figures["Top"] == "99.0%"
    assert len(many) == len(few)


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's query plans; PostgreSQL plans by its statistics")
def test_the_exam_report_reads_no_attempt_but_by_its_id_or_its_flag(staff_client):
    """However many attempts an exam has, the report reads the standings (a row per student)
    and, of the attempts, a claim by its id and the flagged ones alone: no statement scans a
    table or walks another index of the attempts."""
    physics, exam, *_ = seed_batch_results()
    for retake in range(3):
        scored(make_user(f"r{retake}@example.com"), exam, retake, flagged=retake == 0, flag_reason="x")
    _, _, statements = report_figures(staff_client, exam)
    plans = [row[3] for statement, parameters in statements if statement.lstrip().upper().startswith("SELECT")
             for row in db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    unbounded = [step for step in plans if re.match(r"SCAN (?!\()", step)
                 or re.search(r"INDEX ix_attempts_(?!exam_flagged\b)", step)]
    assert unbounded == []
    assert any("ix_attempts_exam_flagged" in step for step in plans)


def test_an_exam_nobody_took_has_an_empty_report_not_an_error(staff_client):
    exam = make_exam("Nobody yet")
    page = staff_client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)
    assert "Nobody has attempted this exam yet." in page and "chart-histogram" not in page
    assert staff_client.get("/admin/exams/999/report").status_code == 404


def test_results_pages_use_the_same_statements_however_many_attempts(app, staff_client):
    physics, exam, *_ = seed_batch_results()
    urls = [f"/admin/gradebook/?batch={physics.id}", f"/admin/gradebook/?sort={exam.id}",
            f"/admin/exams/{exam.id}/report"]
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def counts():
        found = []
        for url in urls:
            db.session.expire_all()  # nothing read before may spare a statement
            statements.clear()
            assert staff_client.get(url).status_code == 200
            found.append(len(statements))
        return found

    before = counts()
    for member in list(physics.members):
        for retake in range(5):
            scored(member, exam, retake, days_ago=retake)
    assert counts() == before


def test_the_migration_derives_existing_attempts_standings_as_the_portal_keeps_them(make_app):
    from flask_migrate import downgrade, upgrade

    from portal.core.database import init_database

    app = make_app()
    with app.app_context():
        db.drop_all()
        init_database()
        exam, latest = make_exam(), make_exam(counting_rule="latest")
        for student in (make_user(), make_user()):
            for rule_exam in (exam, latest):
                scored(student, rule_exam, 7, days_ago=2)
                scored(student, rule_exam, 15, days_ago=3, source="return", flagged=True)
                # 9 out of 10 (90%) is the best of them, though the lowest raw score.
                scored(student, rule_exam, 9, days_ago=4, max_score=10, percentage=90)
                make_attempt(student, rule_exam, status="started")
        kept = {tuple(row) for row in db.session.execute(sa.select(*Standing.__table__.c))}
        assert len(kept) == 4
        db.session.commit()
        downgrade(revision="0011_standings-1")
        upgrade()
        assert {tuple(row) for row in db.session.execute(sa.select(*Standing.__table__.c))} == kept
        assert {row.score for row in db.session.scalars(sa.select(Standing).where(Standing.exam_id == exam.id))} == {9}


def test_rebuild_standings_command(app, runner):
    exam, student = make_exam(), make_user()
    scored(student, exam, 11)
    db.session.execute(sa.delete(Standing.__table__))
    db.session.commit()
    result = runner.invoke(args=["rebuild-standings"])
    assert result.exit_code == 0 and "Rebuilt 1 standings." in result.output
    assert standing(student, exam).score == 11


@pytest.mark.parametrize("path, shown", [("/admin/gradebook/?page=9", "asha@example.com"),
                                         ("/admin/exams/{exam}/report?page=9", "asha@example.com"),
                                         ("/admin/audit?page=9", "No entries match.")])
def test_a_page_past_the_last_shows_the_last_page(staff_client, path, shown):
    physics, exam, *_ = seed_batch_results()
    response = staff_client.get(path.format(exam=exam.id))
    assert response.status_code == 200 and shown in response.get_data(as_text=True)


def test_a_score_only_the_browser_reported_counts_nowhere_and_is_shown_pending(staff_client):
    exam = make_exam("Mock 1", published=True)
    honest, forger = make_user("asha@example.com", "Asha"), make_user("ravi@example.com", "Ravi")
    scored(honest, exam, 12)
    # Ravi pressed Start and posted a return of his own: 20 / 20, never seen by Testpress.
    scored(forger, exam, 20, source="return")

    ranks = staff_client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)
    header, *rows = csv_of(staff_client.get(f"/admin/exams/{exam.id}/report.csv"))
    assert [(row[0], row[2]) for row in rows] == [("1", "Asha"), ("", "Ravi")]  # unranked
    assert (rows[1][header.index("score")] == ""
            and rows[1][header.index("unverified claims")] == "pending 20 / 20, 100.0%")
    assert "pending: claims 20 / 20, 100.0%" in ranks
    figures = exam_report_figures(ranks)
    assert figures["Top"] == "60.0%" and figures["Mean"] == "60.0%"
    assert figures["Completed (with a verified score)"].startswith("1 ")
    assert figures["Pending (a score only the browser reported, counted nowhere)"] == "1"

    header, *rows = csv_of(staff_client.get("/admin/gradebook.csv?sort=" + str(exam.id)))
    assert [row[1] for row in rows] == ["Asha", "Ravi"]  # by Testpress's scores: Ravi has none
    assert rows[1][header.index("Mock 1: score")] == ""

    # Testpress's own word replaces the claim: it counts, and nothing is pending.
    attempt = db.session.scalar(sa.select(Attempt).where(Attempt.student_id == forger.id))
    record_report(attempt, Report(source="webhook", status="completed", testpress_attempt_id="T9", score=6,
                                  percentage=30.0))
    db.session.commit()
    header, *rows = csv_of(staff_client.get(f"/admin/exams/{exam.id}/report.csv"))
    assert [(row[0], row[2], row[header.index("percentage")]) for row in rows] == [
        ("1", "Asha", "60.00"), ("2", "Ravi", "30.00")]


def test_a_maximum_only_the_browser_reported_is_marked_and_ranks_nothing(staff_client):
    exam = make_exam("Mock 1", published=True)
    # A true 1 / 16 (6.25%) beside the browser's claim that the maximum was 1.
    student = make_user("asha@example.com", "Asha")
    scored(student, exam, 1, source="webhook", max_score=1, percentage=6.25)

    page = staff_client.get("/admin/gradebook/").get_data(as_text=True)
    assert "/ 1 by the browser" in page and "1 / 1<" not in page
    header, row = csv_of(staff_client.get("/admin/gradebook.csv"))
    assert (row[header.index("Mock 1: score")], row[header.index("Mock 1: unverified claims")]) == ("1", "max score 1")
    header, row = csv_of(staff_client.get(f"/admin/exams/{exam.id}/report.csv"))
    assert (row[header.index("max score")], row[header.index("unverified claims")]) == ("", "max score 1")
    assert "/ 1 by the browser" in staff_client.get(f"/admin/exams/{exam.id}/report").get_data(as_text=True)


@pytest.mark.parametrize("claimed_max", [1, 1000])
def test_best_never_divides_by_a_maximum_the_browser_reported(app, claimed_max):
    # Two attempts at the same rounded percentage: the exact share breaks the tie only by a
    # maximum Testpress reported; the browser's maximum beside a webhook's score does not.
    exam, student = make_exam(counting_rule="best"), make_user()
    first = scored(student, exam, 10, days_ago=2, source="webhook", max_score=claimed_max, percentage=50.0)
    scored(student, exam, 10, days_ago=1, source="webhook", max_score=20, percentage=50.0)
    assert standing(student, exam).attempt_id == first.id  # a tie: the first to reach it


def exam_report_figures(page: str) -> dict[str, str]:
    """The exam report's figures as shown: {term: its value's text}."""
    return {term: re.sub(r"<[^>]+>", "", value).strip()
            for term, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page)}


def test_the_gradebook_pages_by_name_with_previous_and_next_not_newer_and_older(staff_client):
    make_exam("Mock 1")
    for number in range(51):
        make_user(f"s{number:02d}@example.com", f"Student {number:02d}")
    first = staff_client.get("/admin/gradebook/").get_data(as_text=True)
    second = staff_client.get("/admin/gradebook/?page=2").get_data(as_text=True)
    assert "Next →</a>" in first and "← Previous</a>" in second
    assert "Older" not in first and "Newer" not in second


def test_the_gradebook_csv_marks_not_attempted_apart_from_not_for_this_student(staff_client):
    batch = create_batch("Physics A", by=None)
    make_exam("Batch Mock", batches=[batch], published=True)
    inside, outside = make_user("in@example.com", "In Batch"), make_user("out@example.com", "Out Of Batch")
    add_members(batch, [inside])
    db.session.commit()

    header, *rows = csv_of(staff_client.get("/admin/gradebook.csv"))

    score = header.index("Batch Mock: score")
    by_email = {row[0]: row for row in rows}
    assert by_email[inside.email][score] == "not attempted"
    assert by_email[outside.email][score] == "not for this student"
