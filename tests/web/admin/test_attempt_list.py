"""The staff attempts table: each filter, each order, keyset pages, and the CSV export."""

import base64
import csv
import io
import json
import re
from datetime import datetime, timedelta
from types import GeneratorType

import pytest

from portal.attempts import listing as attempt_list
from portal.core.extensions import db
from portal.models import Batch
from tests.factories import make_attempt, make_exam, make_staff, make_user

START = datetime(2026, 11, 20, 4, 30)  # naive UTC: 10:00 in Asia/Kolkata


@pytest.fixture
def app(make_app):
    app = make_app(TIMEZONE="Asia/Kolkata")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def staff(app, client, auth):
    make_staff("boss@example.com", name="Boss")
    auth.login("boss@example.com")
    return client


@pytest.fixture
def school(app):
    """Three students, two exams, a batch; attempts an hour apart from START, named by their row."""
    physics, chemistry = make_exam("Physics"), make_exam("Chemistry")
    asha = make_user("asha@example.com", "Asha Rao")
    ravi = make_user("ravi@example.com", "Ravi Kumar")
    meera = make_user("meera@example.com", "Meera Iyer")
    db.session.add(Batch(name="Morning", members=[asha, meera]))
    db.session.commit()
    rows = {
        "a1": make_attempt(asha, physics, status="completed", percentage=90.0, score=18, max_score=20,
                           score_source="api", started_at=START),
        "a2": make_attempt(asha, chemistry, status="completed", percentage=40.0, score=8, max_score=20,
                           score_source="return", flagged=True, flag_reason="x", started_at=START + timedelta(hours=1)),
        "r1": make_attempt(ravi, physics, status="started", started_at=START + timedelta(hours=2)),
        "r2": make_attempt(ravi, chemistry, status="completed", percentage=65.0, score=13, max_score=20,
                           score_source="webhook", started_at=START + timedelta(hours=3)),
        "m1": make_attempt(meera, physics, status="cancelled", started_at=START + timedelta(hours=4)),
    }
    return {"physics": physics, "chemistry": chemistry, **rows}


def listed(client, query: str = "", school=None) -> list[str]:
    """The attempts the table shows, top to bottom, by their names in `school`."""
    response = client.get(f"/admin/attempts/?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    ids = [int(found) for found in re.findall(r'href="/admin/attempts/(\d+)"', response.get_data(as_text=True))]
    names = {row.id: name for name, row in school.items() if name not in ("physics", "chemistry")}
    return [names[attempt_id] for attempt_id in ids]


@pytest.mark.parametrize("query, expected", [
    ("", ["m1", "r2", "r1", "a2", "a1"]),  # newest first
    ("exam={physics}", ["m1", "r1", "a1"]),
    ("batch={batch}", ["m1", "a2", "a1"]),
    ("student=ravi", ["r2", "r1"]),  # the name
    ("student=MEERA%40EX", ["m1"]),  # the email, in any case
    ("status=completed", ["r2", "a2", "a1"]),
    ("verified=signed", ["r2", "a1"]),
    ("verified=return", ["a2"]),
    ("verified=none", ["m1", "r1"]),
    ("flagged=1", ["a2"]),
    ("from=2026-11-20T11:00&to=2026-11-20T13:00", ["r1", "a2"]),  # the institute's time: 05:30-07:30 UTC
    ("exam={chemistry}&status=completed&verified=signed", ["r2"]),
])
def test_each_filter(staff, school, query, expected):
    batch = db.session.scalar(db.select(Batch.id))
    query = query.format(physics=school["physics"].id, chemistry=school["chemistry"].id, batch=batch)
    assert listed(staff, query, school) == expected


@pytest.mark.parametrize("query, expected", [
    ("sort=started&dir=asc", ["a1", "a2", "r1", "r2", "m1"]),
    ("sort=score", ["a1", "r2", "a2"]),  # best first; unscored attempts are not in this order
    ("sort=score&dir=asc", ["a2", "r2", "a1"]),
    ("sort=student", ["a1", "a2", "m1", "r1", "r2"]),  # by name, then each student's oldest first
    ("sort=student&dir=desc", ["r2", "r1", "m1", "a2", "a1"]),
    ("sort=exam", ["a2", "r2", "a1", "r1", "m1"]),  # Chemistry, then Physics
    ("sort=exam&dir=desc&status=completed", ["a1", "r2", "a2"]),
])
def test_each_order(staff, school, query, expected):
    assert listed(staff, query, school) == expected


def test_the_score_order_says_it_leaves_out_unscored_attempts(staff, school):
    assert "attempts without a score are not listed" in staff.get("/admin/attempts/?sort=score").get_data(as_text=True)


@pytest.mark.parametrize("typed", ["Élodie", "ÉLODIE", "élodie mar"])
def test_the_student_filter_finds_non_ascii_names_whatever_the_case(staff, school, typed):
    elodie = make_user("elodie@example.com", "Élodie Martin")
    found = make_attempt(elodie, school["physics"], started_at=START)
    html = staff.get("/admin/attempts/", query_string={"student": typed}).get_data(as_text=True)
    assert re.findall(r'href="/admin/attempts/(\d+)"', html) == [str(found.id)]


@pytest.mark.parametrize("query, message", [
    ("status=finished", "“status” must be one of"),
    ("verified=maybe", "“verified” must be one of"),
    ("sort=colour", "“sort” must be one of"),
    ("dir=up", "“dir” must be asc or desc"),
    ("from=yesterday", "“Started from” must be a date and time such as 2026-12-01T09:30 (Asia/Kolkata)"),
    ("to=2026-11-20T10:00%2B05:00", "“Started before” must be a date and time"),
    ("batch=0", "“batch” must be a whole number"),
    ("from=0001-01-01T00:00", "“Started from” must be a date and time"),  # before year 1 in UTC
])
def test_a_filter_no_choice_offers_is_a_400_naming_it(staff, query, message):
    response = staff.get(f"/admin/attempts/?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert staff.get(f"/admin/attempts/export.csv?{query}").status_code == 400


def pages(client, query: str) -> list[list[int]]:
    """Follow the "Older →" links from the first page to the last: each page's attempt ids."""
    url, seen = f"/admin/attempts/?{query}", []
    while url:
        page = client.get(url).get_data(as_text=True)
        seen.append([int(found) for found in re.findall(r'href="/admin/attempts/(\d+)"', page)])
        older = re.search(r'<a href="([^"]+)">(?:Older|Next) →</a>', page)
        url = older.group(1).replace("&amp;", "&") if older else None
    return seen


@pytest.mark.parametrize("sort", ["started", "score", "student", "exam"])
def test_pages_follow_each_other_without_repeats_or_gaps(staff, monkeypatch, sort):
    monkeypatch.setattr(attempt_list, "PER_PAGE", 4)
    monkeypatch.setattr(attempt_list.attempts_page, "__defaults__", (4,))
    exam, other = make_exam("Physics"), make_exam("Chemistry")
    students = [make_user(name=name) for name in ("Asha", "Asha", "Ravi")]  # two of one name: the tie-break
    made = [make_attempt(students[i % 3], (exam, other)[i % 2], status="completed", percentage=float(i % 4) * 10,
                         started_at=START + timedelta(minutes=i // 2)) for i in range(11)]  # equal times and scores

    walked = pages(staff, f"sort={sort}")

    assert [len(page) for page in walked] == [4, 4, 3]
    assert sorted(sum(walked, [])) == sorted(attempt.id for attempt in made)


def test_attempts_added_between_pages_neither_repeat_nor_vanish(staff, monkeypatch):
    monkeypatch.setattr(attempt_list.attempts_page, "__defaults__", (3,))
    exam, student = make_exam(), make_user()
    old = [make_attempt(student, exam, started_at=START - timedelta(minutes=i)) for i in range(7)]
    first = staff.get("/admin/attempts/").get_data(as_text=True)
    older = re.search(r'<a href="([^"]+)">Older →</a>', first).group(1).replace("&amp;", "&")
    first_ids = [int(found) for found in re.findall(r'href="/admin/attempts/(\d+)"', first)]

    new = [make_attempt(student, exam, started_at=START + timedelta(minutes=i)) for i in range(1, 4)]  # newer
    squeezed = make_attempt(student, exam, started_at=START - timedelta(minutes=5, seconds=30))  # among the old

    rest = pages(staff, older.split("?", 1)[1])
    shown = first_ids + sum(rest, [])
    assert len(shown) == len(set(shown))  # nothing twice
    assert {attempt.id for attempt in old} <= set(shown)  # nothing that was there vanished
    # later rows: only after the cursor
    assert squeezed.id in shown and not {attempt.id for attempt in new} & set(shown)

    newer = re.search(r'<a href="([^"]+)">← Newer</a>', staff.get(older).get_data(as_text=True)).group(1)
    back = staff.get(newer.replace("&amp;", "&")).get_data(as_text=True)
    # "← Newer" from page 2: the three rows just above its first, the first page as it was.
    assert [int(found) for found in re.findall(r'href="/admin/attempts/(\d+)"', back)] == first_ids
    assert '← Newer' in back  # and the new rows above them, a page further


def test_the_count_is_exact_where_kept_and_bounded_elsewhere(staff, school, monkeypatch):
    assert "5 attempts." in staff.get("/admin/attempts/").get_data(as_text=True)
    assert "3 attempts match." in staff.get(f"/admin/attempts/?exam={school['physics'].id}").get_data(as_text=True)
    monkeypatch.setattr(attempt_list, "COUNT_CAP", 1)
    assert "more than 1 attempts match." in staff.get("/admin/attempts/?verified=signed").get_data(as_text=True)


def test_the_export_link_keeps_the_filters_and_order(staff, school):
    page = staff.get("/admin/attempts/?status=completed&sort=score").get_data(as_text=True)
    assert 'href="/admin/attempts/export.csv?status=completed&amp;sort=score&amp;dir=desc" download>Export CSV' in page


def read_export(client, query: str) -> list[list[str]]:
    response = client.get(f"/admin/attempts/export.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="attempts-')
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def test_the_export_holds_the_filtered_attempts_in_the_institutes_time(staff, school):
    header, *rows = read_export(staff, f"exam={school['physics'].id}&sort=started&dir=asc")
    assert header == ["attempt id", "student email", "student name", "exam", "status",
                      "started (Asia/Kolkata)", "completed (Asia/Kolkata)", "score", "max score", "percentage",
                      "source", "verified", "flagged", "unverified claims"]
    assert rows == [
        [str(school["a1"].id), "asha@example.com", "Asha Rao", "Physics", "Completed", "2026-11-20 10:00:00", "",
         "18", "20", "90", "Admin API", "yes", "no", ""],
        [str(school["r1"].id), "ravi@example.com", "Ravi Kumar", "Physics", "Started on Testpress",
         "2026-11-20 12:00:00", "", "", "", "", "", "no", "no", ""],
        [str(school["m1"].id), "meera@example.com", "Meera Iyer", "Physics", "Paused (Take later)",
         "2026-11-20 14:00:00", "", "", "", "", "", "no", "no", ""],
    ]


def test_a_maximum_only_the_browser_reported_is_apart_in_the_table_and_its_export(staff, school):
    # The webhook carries no maximum: beside Ravi's webhook score of 13, the 20 is the browser's claim.
    page = staff.get(f"/admin/attempts/?exam={school['chemistry'].id}").get_data(as_text=True)
    assert "13 <small" in page and "/ 20 by the browser" in page
    assert "8 / 20" in page  # the browser's own score is marked by its source, as before
    header, *rows = read_export(staff, f"exam={school['chemistry'].id}&sort=started&dir=asc")
    [row] = [row for row in rows if row[0] == str(school["r2"].id)]
    assert (row[header.index("max score")], row[header.index("verified")], row[-1]) == ("", "yes", "max score 20")


def test_the_export_in_score_order_keeps_the_unscored_attempts_last(staff, school):
    _, *rows = read_export(staff, "sort=score")
    assert [row[0] for row in rows[:3]] == [str(school[name].id) for name in ("a1", "r2", "a2")]
    assert len(rows) == 5


def test_the_export_neutralises_formulas(staff, school):
    exam = make_exam("=HYPERLINK(\"http://evil\")")
    make_attempt(make_user("cmd@example.com", "=cmd"), exam, status="started")
    _, row = read_export(staff, "student=cmd")
    assert (row[2], row[3]) == ("'=cmd", "'=HYPERLINK(\"http://evil\")")


def test_the_export_is_named_by_the_institutes_day(staff, monkeypatch):
    from portal.web.admin import dashboard as attempts
    monkeypatch.setattr(attempts, "utcnow", lambda: datetime(2026, 12, 1, 20, 0))  # 01:30 on 2 Dec in Kolkata
    response = staff.get("/admin/attempts/export.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="attempts-2026-12-02.csv"'


def test_the_export_keeps_negative_scores_numbers(staff, school):
    make_attempt(make_user("neg@example.com", "Neg"), school["physics"], status="completed", score=-2.0,
                 max_score=20.0, percentage=-10.0, score_source="api")
    header, row = read_export(staff, "student=neg@")
    assert (row[header.index("score")], row[header.index("max score")], row[header.index("percentage")]) == \
        ("-2", "20", "-10")


@pytest.mark.parametrize("cell, written", [
    # negative numbers, as they are
    (-2, "-2"), ("-10.00", "-10.00"), ("-1e+06", "-1e+06"), (-2.5, "-2.5"), ("-0.5", "-0.5"),
    ("-2 / 20", "'-2 / 20"), ("-2+3", "'-2+3"), ("-cmd", "'-cmd"), ("-", "'-"), ("-2.", "'-2."),
    ("-1e+06+cmd|' /C calc'!A0", "'-1e+06+cmd|' /C calc'!A0"), ("-2\n", "'-2\n"), ("-٣", "'-٣"),
    ("=1+1", "'=1+1"), ("+5", "'+5"), ("@SUM(A1)", "'@SUM(A1)"), ("12", "12"),
])
def test_only_a_plain_negative_number_escapes_the_formula_guard(cell, written):
    from portal.core.csvfiles import safe_cell
    assert safe_cell(cell) == written


def test_the_export_is_streamed(staff, school):
    response = staff.get("/admin/attempts/export.csv")
    assert response.is_streamed
    assert isinstance(attempt_list.export_rows(attempt_list.AttemptFilters(), attempt_list.Order("started", True)),
                      GeneratorType)


@pytest.mark.parametrize("query, expected", [
    ("batch={batch}", ["m1", "a2", "a1"]),
    ("batch={batch}&sort=score", ["a1", "a2"]),
    ("student=a&sort=student", ["a1", "a2", "m1", "r1", "r2"]),
])
def test_students_with_many_attempts_are_listed_alike_by_walking_the_order(staff, school, monkeypatch, query,
                                                                             expected):
    monkeypatch.setattr(attempt_list, "COUNT_CAP", 1)  # "more than 1" attempts: the order's index is walked
    batch = db.session.scalar(db.select(Batch.id))
    assert listed(staff, query.format(batch=batch), school) == expected


@pytest.mark.parametrize("name", ["\ud800", "Asha\x00"])
def test_a_page_link_holding_a_lone_surrogate_or_a_nul_is_a_400(staff, name):
    raw = json.dumps(["student", False, [["s", name], ["i", 1], ["t", START.isoformat()], ["i", 1]]])
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = staff.get(f"/admin/attempts/?sort=student&cursor={cursor}")
    assert response.status_code == 400 and "start again from the first page" in response.get_data(as_text=True)


def test_a_page_link_past_64_bits_is_a_400(staff):
    cursor = attempt_list.Cursor("started", False, (START, 2**64)).encode()
    assert staff.get(f"/admin/attempts/?cursor={cursor}").status_code == 400


@pytest.fixture
def namesakes(app):
    """Ravi, and Kavya Ravi whose email holds his: kravi@ contains ravi@."""
    ravi = make_user("ravi@example.com", "Ravi Kumar")
    kravi = make_user("kravi@example.com", "Kavya Ravi")
    for hour in range(3):
        make_attempt(ravi, make_exam(f"Ravi's exam {hour}"), started_at=START + timedelta(hours=hour))
    make_attempt(kravi, make_exam("Kavya's exam"), started_at=START)
    return ravi, kravi


@pytest.mark.parametrize("page", ["/admin/people/", "/admin/people/{ravi}", "/admin/gradebook/"])
def test_a_persons_attempts_link_lists_only_their_attempts(staff, namesakes, monkeypatch, page):
    from portal.web.admin import people
    monkeypatch.setattr(people, "ATTEMPTS_ON_PERSON_PAGE", 2)  # the person page links to "see them all"
    ravi, kravi = namesakes
    html = staff.get(page.format(ravi=ravi.id)).get_data(as_text=True)
    links = re.findall(r'href="(/admin/attempts/\?student_id=(\d+))"', html)
    assert str(ravi.id) in [found for _, found in links], html
    listed_page = staff.get(next(link for link, found in links if found == str(ravi.id))).get_data(as_text=True)
    assert "Attempts of" in listed_page and "Ravi Kumar</a> (ravi@example.com)" in listed_page
    assert listed_page.count('<td data-label="Exam">Ravi&#39;s exam') == 3
    assert "kravi@example.com" not in listed_page and '<td data-label="Exam">Kavya' not in listed_page


def test_the_exact_student_filter_is_kept_by_pages_orders_and_the_export(staff, namesakes, monkeypatch):
    monkeypatch.setattr(attempt_list.attempts_page, "__defaults__", (2,))
    ravi, _ = namesakes
    seen = pages(staff, f"student_id={ravi.id}")
    assert [len(page) for page in seen] == [2, 1]
    html = staff.get(f"/admin/attempts/?student_id={ravi.id}").get_data(as_text=True).replace("&amp;", "&")
    assert f'name="student_id" value="{ravi.id}"' in html  # the filter form keeps it
    sort_link = re.search(r'href="(/admin/attempts/\?[^"]*sort=exam[^"]*)"', html).group(1)
    assert f"student_id={ravi.id}" in sort_link
    export = re.search(r'href="(/admin/attempts/export\.csv\?[^"]+)"', html).group(1)
    _, *rows = read_export(staff, export.split("?", 1)[1])
    assert sorted(row[1] for row in rows) == ["ravi@example.com"] * 3
    everyone = re.search(r'href="([^"]*)">everyone&#39;s attempts</a>', html) or re.search(
        r"href=\"([^\"]*)\">everyone's attempts</a>", html)
    assert "student_id" not in everyone.group(1)


def test_the_search_box_still_matches_part_of_an_email(staff, namesakes):
    html = staff.get("/admin/attempts/?student=ravi@").get_data(as_text=True)
    assert "kravi@example.com" in html and "ravi@example.com" in html


@pytest.mark.parametrize("value", ["ravi@example.com", "0", "-1", str(2**31)])
def test_a_student_id_that_is_no_row_id_is_a_400(staff, value):
    response = staff.get("/admin/attempts/", query_string={"student_id": value})
    assert response.status_code == 400 and "“student_id” must be a whole number" in response.get_data(as_text=True)
    assert staff.get("/admin/attempts/export.csv", query_string={"student_id": value}).status_code == 400


def test_a_student_id_of_nobody_says_so(staff, namesakes):
    html = staff.get("/admin/attempts/?student_id=999999").get_data(as_text=True)
    assert "who is not in the portal" in html and "No attempts match." in html
