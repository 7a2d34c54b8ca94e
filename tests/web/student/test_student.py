"""The student's pages: the exam list, the results page and the attempt history."""

import re
from datetime import timedelta

import pytest

from portal.core.clock import utcnow
from portal.core.extensions import db
from tests.factories import make_attempt, make_exam, make_staff, make_user


@pytest.fixture
def student(auth):
    user = make_user("asha@example.com", "Asha Rao")
    auth.login(user.email)
    return user


def page_text(response, *, without_charts=False) -> str:
    """The page's visible text, tags removed and whitespace collapsed; `without_charts`, the
    text outside its charts (what a chart says on hover is the chart's own)."""
    html = response.get_data(as_text=True)
    if without_charts:
        html = re.sub(r"<svg\b.*?</svg>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def exam_card(response, title: str) -> str:
    """The visible text of one exam's card on the exams page."""
    html = response.get_data(as_text=True)
    for card in re.findall(r'<article class="card exam-card".*?</article>', html, flags=re.S):
        if f">{title}</h2>" in card:
            return " ".join(re.sub(r"<[^>]+>", " ", card).split())
    raise AssertionError(f"no card for {title!r}")


COMPLETED = dict(status="completed", testpress_attempt_id="501", score=12.0, max_score=20.0, percentage=60.0,
                 correct_count=3, incorrect_count=1, unanswered_count=1, total_count=5, rank=2, max_rank=9,
                 score_source="return")


@pytest.mark.parametrize("path", ["/exams/", "/attempts/", "/attempts/1", "/attempts/1/review"])
def test_student_pages_need_a_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_exams_page_lists_open_and_upcoming_exams_only(client, student):
    now = utcnow()
    make_exam("Open Mock")
    make_exam("Closing Mock", opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=1))
    make_exam("Future Mock", opens_at=now + timedelta(days=2))
    make_exam("Closed Mock", closes_at=now - timedelta(hours=1))
    make_exam("Draft Mock", published=False)

    response = client.get("/exams/")

    text = page_text(response)
    assert response.status_code == 200
    assert "Open Mock" in text and "Closing Mock" in text
    assert "Closed Mock" not in text and "Draft Mock" not in text
    future = exam_card(response, "Future Mock")
    assert "Upcoming" in future and "Opens" in future
    assert "Start" not in future  # nothing to press before it opens
    assert "Start" in exam_card(response, "Open Mock")


def test_exam_cards_show_the_students_state_and_the_right_button(client, student):
    fresh, unfinished, left, done = (make_exam(t) for t in ("Fresh", "Unfinished", "Left", "Done"))
    make_attempt(student, unfinished, status="started")
    make_attempt(student, left, status="cancelled")
    make_attempt(student, done, **{**COMPLETED, "testpress_attempt_id": None})
    # Someone else's attempt must not change this student's cards.
    make_attempt(make_user(), fresh, **{**COMPLETED, "testpress_attempt_id": None})

    response = client.get("/exams/")

    assert "Not started" in exam_card(response, "Fresh") and "Start" in exam_card(response, "Fresh")
    assert "In progress" in exam_card(response, "Unfinished")
    assert "Resume" in exam_card(response, "Unfinished")
    assert "In progress" in exam_card(response, "Left") and "Cancelled" not in exam_card(response, "Left")
    assert "You left this exam to take later" in exam_card(response, "Left")
    assert "Resume" in exam_card(response, "Left")
    assert "Score 12 / 20 (60.0%)" in exam_card(response, "Done")
    assert "Retake" in exam_card(response, "Done")


def test_an_exam_card_says_a_score_testpress_has_not_verified_is_not_yet_verified(client, student):
    # The latest attempt's score came back with the browser only (3 / 4): the student could
    # have edited it, so the card says so, in the results page's words; the counting result
    # beside it is Testpress's (2 / 4).
    exam = make_exam("Mock")
    make_attempt(student, exam, **{**COMPLETED, "score": 2.0, "max_score": 4.0, "percentage": 50.0,
                                   "score_source": "webhook", "started_at": utcnow() - timedelta(days=1)})
    claimed = make_attempt(student, exam, **{**COMPLETED, "score": 3.0, "max_score": 4.0, "percentage": 75.0,
                                              "testpress_attempt_id": "502", "started_at": utcnow()})

    card = exam_card(client.get("/exams/"), "Mock")
    result = page_text(client.get(f"/attempts/{claimed.id}"))

    assert "Score 3 / 4 (75.0%) Not yet verified by Testpress" in card
    assert "Best: 2 / 4" in card and "Verified by Testpress" not in card
    assert "Not yet verified by Testpress" in result  # the same words


def test_an_exam_card_says_nothing_of_verification_beside_a_score_testpress_gave(client, student):
    make_attempt(student, make_exam("Mock"), **VERIFIED)

    card = exam_card(client.get("/exams/"), "Mock")

    assert "Score 12 / 20 (60.0%)" in card and "verified" not in card.lower()


def test_exam_card_follows_the_latest_attempt(client, student):
    exam = make_exam("Mock")
    make_attempt(student, exam, **{**COMPLETED, "started_at": utcnow() - timedelta(days=2)})
    make_attempt(student, exam, status="launched", started_at=utcnow())

    card = exam_card(client.get("/exams/"), "Mock")

    assert "In progress" in card and "Resume" in card


def test_results_page_shows_the_whole_result(client, student):
    attempt = make_attempt(student, make_exam("Physics Mock 1"), **COMPLETED)

    response = client.get(f"/attempts/{attempt.id}")

    text = page_text(response)
    assert response.status_code == 200
    assert "Physics Mock 1" in text
    assert "Completed" in text
    assert "Score 12 / 20" in text
    assert "Percentage 60.0%" in text
    assert "Rank 2 of 9" in text
    assert "Correct: 3 · Incorrect: 1 · Unanswered: 1" in text
    assert "Not yet verified" in text and "Verified by Testpress" not in text
    assert '<svg class="chart chart-answers"' in response.get_data(as_text=True)
    assert f'href="/attempts/{attempt.id}/review"' in response.get_data(as_text=True)
    assert "Review on Testpress" in text
    assert 'href="/exams/"' in response.get_data(as_text=True)


def test_results_page_says_verified_once_a_signed_source_confirms(client, student):
    attempt = make_attempt(student, make_exam(), **{**COMPLETED, "score_source": "webhook"})

    text = page_text(client.get(f"/attempts/{attempt.id}"))

    assert "Verified by Testpress" in text and "Not yet verified" not in text


def test_results_page_never_shows_staff_only_flags(client, student):
    attempt = make_attempt(student, make_exam(), **COMPLETED, flagged=True,
                           flag_reason="The browser return claimed score 20")

    text = page_text(client.get(f"/attempts/{attempt.id}"))

    assert "claimed" not in text and "tampering" not in text.lower() and "flag" not in text.lower()


def test_pending_attempt_says_testpress_is_still_evaluating(client, student):
    attempt = make_attempt(student, make_exam(), status="pending", testpress_attempt_id="77")

    text = page_text(client.get(f"/attempts/{attempt.id}"))

    assert "Testpress is still evaluating this attempt" in text
    assert "Awaiting result" in text


def test_cancelled_attempt_offers_resume(client, student):
    exam = make_exam()
    attempt = make_attempt(student, exam, status="cancelled")

    response = client.get(f"/attempts/{attempt.id}")

    assert "You left this exam to take later" in page_text(response)
    assert "Status In progress" in page_text(response)  # a pause, as on the exam list and the history
    assert f'action="/exams/{exam.id}/start"' in response.get_data(as_text=True)
    assert "Resume" in page_text(response)
    assert "Review on Testpress" not in page_text(response)  # Testpress has no attempt to review


def test_cancelled_attempt_of_a_closed_exam_offers_no_resume(client, student):
    exam = make_exam(closes_at=utcnow() - timedelta(minutes=1))
    attempt = make_attempt(student, exam, status="cancelled")

    assert "Resume" not in page_text(client.get(f"/attempts/{attempt.id}"))


def test_another_students_result_is_not_found(client, student):
    attempt = make_attempt(make_user(), make_exam(), **COMPLETED)

    assert client.get(f"/attempts/{attempt.id}").status_code == 404
    assert client.get("/attempts/999").status_code == 404


def test_staff_may_open_any_result(client, auth):
    attempt = make_attempt(make_user(), make_exam(), **COMPLETED)
    auth.login(make_staff().email)

    assert client.get(f"/attempts/{attempt.id}").status_code == 200


def test_history_lists_own_attempts_newest_first_with_review_links(client, student):
    physics, maths = make_exam("Physics"), make_exam("Maths")
    now = utcnow()
    old = make_attempt(student, physics, **{**COMPLETED, "started_at": now - timedelta(days=3)})
    left = make_attempt(student, maths, status="cancelled", started_at=now - timedelta(days=1))
    make_attempt(make_user(), physics, **{**COMPLETED, "testpress_attempt_id": "999",
                                          "started_at": now - timedelta(days=2)})

    response = client.get("/attempts/")

    html = response.get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td data-label=\"Date\"><a href=\"/attempts/(\d+)\"", html)
    assert rows == [str(left.id), str(old.id)]  # newest first, and nobody else's
    assert f'href="/attempts/{old.id}/review"' in html
    assert f'href="/attempts/{left.id}/review"' not in html  # Testpress never knew it
    text = page_text(response)
    assert "In progress" in text and "Cancelled" not in text and "12 / 20" in text and "60.0%" in text


def test_history_filters_by_exam(client, student):
    physics, maths = make_exam("Physics"), make_exam("Maths")
    mine_physics = make_attempt(student, physics)
    mine_maths = make_attempt(student, maths)

    html = client.get("/attempts/", query_string={"exam": physics.id}).get_data(as_text=True)

    assert f'href="/attempts/{mine_physics.id}"' in html
    assert f'href="/attempts/{mine_maths.id}"' not in html
    assert f'<option value="{physics.id}" selected>' in html


@pytest.fixture
def five_attempts(make_app):
    """A student's client, logged in, with five attempts at two a page: (client, ids newest first)."""
    app = make_app(ATTEMPTS_PER_PAGE=2)
    client = app.test_client()
    with app.app_context():
        student, exam = make_user(), make_exam()
        ids = [make_attempt(student, exam, started_at=utcnow() - timedelta(hours=n)).id for n in range(5)]
        client.post("/login", data={"email": student.email, "password": "correct horse battery staple"})
    return client, ids


def test_history_is_paginated(five_attempts):
    client, ids = five_attempts

    first = client.get("/attempts/").get_data(as_text=True)
    last = client.get("/attempts/", query_string={"page": 3}).get_data(as_text=True)

    assert f'href="/attempts/{ids[0]}"' in first and f'href="/attempts/{ids[2]}"' not in first
    assert "Page 1 of 3" in first and "Older" in first
    assert f'href="/attempts/{ids[4]}"' in last and "Newer" in last


@pytest.mark.parametrize("query", [{"page": 4}, {"page": 99}, {"page": (2**63 - 1) // 2}])
def test_a_page_past_the_end_of_the_history_shows_the_last_page(five_attempts, query):
    client, ids = five_attempts

    response = client.get("/attempts/", query_string=query)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Page 3 of 3" in html and f'href="/attempts/{ids[4]}"' in html and f'href="/attempts/{ids[3]}"' not in html


def test_a_page_past_the_end_of_a_filtered_history_stays_within_the_filter(make_app):
    app = make_app(ATTEMPTS_PER_PAGE=2)
    client = app.test_client()
    with app.app_context():
        student, physics, maths = make_user(), make_exam("Physics"), make_exam("Maths")
        mine = [make_attempt(student, physics, started_at=utcnow() - timedelta(hours=n)).id for n in range(3)]
        other = make_attempt(student, maths, started_at=utcnow() - timedelta(days=9)).id
        physics_id = physics.id
        client.post("/login", data={"email": student.email, "password": "correct horse battery staple"})

    html = client.get("/attempts/", query_string={"exam": physics_id, "page": 7}).get_data(as_text=True)

    assert "Page 2 of 2" in html and f'href="/attempts/{mine[2]}"' in html
    assert f'href="/attempts/{other}"' not in html


def test_an_empty_history_at_any_page_is_the_friendly_empty_state(client, student):
    response = client.get("/attempts/", query_string={"page": 5})

    assert response.status_code == 200
    assert "No attempts yet." in page_text(response) and "Pick an exam to start." in page_text(response)


@pytest.mark.parametrize(("fields", "note"), [
    (dict(status="launched"), "Finish the attempt to review it."),
    (dict(status="started", testpress_attempt_id="77"), "Finish the attempt to review it."),
    (dict(status="cancelled", testpress_attempt_id="78"), "Finish the attempt to review it."),
    (dict(status="pending", testpress_attempt_id="79"),
     "Testpress is still marking it; the review opens once it is marked."),
    ({**COMPLETED, "testpress_attempt_id": None},
     "These scores came back with your browser; the review opens once Testpress verifies them."),
])
def test_no_review_link_without_a_review_and_the_pages_say_why(client, student, fields, note):
    attempt = make_attempt(student, make_exam("Physics"), **fields)

    history, result = client.get("/attempts/"), client.get(f"/attempts/{attempt.id}")
    review = client.get(f"/attempts/{attempt.id}/review")

    for response in (history, result):
        assert note in page_text(response)
        assert f"/attempts/{attempt.id}/review" not in response.get_data(as_text=True)
    assert review.status_code == 404
    assert note in page_text(review) and f'href="/attempts/{attempt.id}"' in review.get_data(as_text=True)


VERIFIED = {**COMPLETED, "score_source": "webhook"}
NO_ID = {"testpress_attempt_id": None}


@pytest.mark.parametrize(("fields", "verification", "why"), [
    (VERIFIED, "Verified by Testpress", ""),
    ({**VERIFIED, **NO_ID}, "Verified by Testpress",  # the demo's history: no Testpress id kept
     "Testpress has not said which of its attempts this is, so there is no review to open here."),
    (COMPLETED, "Not yet verified by Testpress", ""),
    ({**COMPLETED, **NO_ID}, "Not yet verified by Testpress",
     "These scores came back with your browser; the review opens once Testpress verifies them."),
    ({**VERIFIED, "institute_attempt_id": None}, "Verified by Testpress",
     "Taken on Testpress directly: review it there."),
], ids=["verified", "verified without an id", "unverified", "unverified without an id", "taken on Testpress"])
def test_each_page_says_once_and_in_the_same_words_whether_testpress_verified_it_and_why_a_review_is_there(
        client, auth, student, fields, verification, why):
    attempt = make_attempt(student, make_exam("Physics"), **fields)
    statement = f"{verification} {why}".strip()
    other = {"Verified by Testpress": "Not yet verified", "Not yet verified by Testpress": "Verified by"}[verification]

    for url in ("/attempts/", f"/attempts/{attempt.id}"):
        text = page_text(client.get(url), without_charts=True)  # the history's chart: below
        assert text.count(statement) == 1, (url, text)
        assert text.count(verification) == 1 and other not in text
        assert ("Review" in text.split(verification, 1)[1][:40]) == (not why)
    auth.logout()
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    assert statement in page_text(client.get(f"/admin/attempts/{attempt.id}"))


def test_a_completed_attempt_testpress_reported_links_its_review(client, student):
    attempt = make_attempt(student, make_exam("Physics"), **COMPLETED)

    history, result = client.get("/attempts/"), client.get(f"/attempts/{attempt.id}")

    assert f'href="/attempts/{attempt.id}/review"' in history.get_data(as_text=True)
    assert f'href="/attempts/{attempt.id}/review"' in result.get_data(as_text=True)
    assert "the review opens once" not in page_text(history) + page_text(result)


def test_history_charts_the_percentage_over_time(client, student):
    exam = make_exam("Physics")
    now = utcnow()
    make_attempt(student, exam, **{**COMPLETED, "testpress_attempt_id": None, "percentage": 40.0,
                                   "started_at": now - timedelta(days=2)})
    make_attempt(student, exam, **{**COMPLETED, "testpress_attempt_id": None, "percentage": 80.0,
                                   "started_at": now - timedelta(days=1)})
    make_attempt(student, exam, status="cancelled")

    html = client.get("/attempts/").get_data(as_text=True)

    assert "Percentage over 2 completed attempts" in html
    tooltips = re.findall(r"<title>Physics, [^<]*: ([\d.]+)%[^<]*</title>", html)
    assert tooltips == ["40.0", "80.0"]  # oldest first, along the line


def test_the_history_chart_says_which_percentages_testpress_has_not_verified(client, student):
    exam = make_exam("Physics")
    now = utcnow()
    make_attempt(student, exam, **{**VERIFIED, "percentage": 40.0, "started_at": now - timedelta(days=2)})
    make_attempt(student, exam, **{**COMPLETED, "testpress_attempt_id": "502", "percentage": 80.0,
                                   "started_at": now - timedelta(days=1)})

    html = client.get("/attempts/").get_data(as_text=True)

    hovers = re.findall(r'<circle class="([\w -]+)"[^>]*><title>Physics, [^<]*: ([^<]*)</title>', html)
    assert hovers == [("dot", "40.0%"), ("dot dot-unverified", "80.0% (Not yet verified by Testpress)")]


def test_history_chart_labels_a_point_with_the_institutes_day(make_app):
    from datetime import datetime
    app = make_app(TIMEZONE="Asia/Kolkata")
    client = app.test_client()
    with app.app_context():
        owl = make_user("owl@example.com", "Night Owl")
        # 20:00 UTC on 1 December is 01:30 on 2 December in Kolkata.
        make_attempt(owl, make_exam("Late Night Mock"), status="completed", score=10.0, max_score=20.0,
                     percentage=50.0, started_at=datetime(2026, 12, 1, 20, 0),
                     completed_at=datetime(2026, 12, 1, 20, 30))
    client.post("/login", data={"email": "owl@example.com", "password": "correct horse battery staple"})

    html = client.get("/attempts/").get_data(as_text=True)

    assert "02 Dec 2026, 01:30 IST" in html  # the table
    assert re.findall(r"<title>(Late Night Mock, [^<:]*):", html) == ["Late Night Mock, 02 Dec 2026"]  # the chart
    assert re.findall(r'<text [^>]*text-anchor="middle">([^<]*)</text>', html) == ["2 Dec"]  # and its axis


def test_history_chart_dates_its_axis_from_the_first_attempt_to_the_latest(client, student):
    from datetime import datetime
    exam = make_exam("Physics")
    for day, percentage in ((3, 40.0), (10, 55.0), (24, 80.0)):
        make_attempt(student, exam, **{**COMPLETED, **NO_ID, "percentage": percentage,
                                       "started_at": datetime(2026, 11, day, 9)})

    html = client.get("/attempts/").get_data(as_text=True)

    assert ">oldest<" not in html and ">newest<" not in html
    assert re.findall(r'<text [^>]*text-anchor="middle">([^<]*)</text>', html) == ["3 Nov", "10 Nov", "24 Nov"]


def test_history_without_completed_attempts_has_no_chart(client, student):
    make_attempt(student, make_exam(), status="launched")

    html = client.get("/attempts/").get_data(as_text=True)

    assert "chart-progress" not in html


@pytest.mark.parametrize("query", [{"exam": str(2**63)}, {"exam": "5_5"}, {"page": str(2**62)}])
def test_history_refuses_an_integer_out_of_range_with_a_400(client, student, query):
    response = client.get("/attempts/", query_string=query)
    assert response.status_code == 400
    assert "must be a whole number from 1 to" in response.get_data(as_text=True)


def test_the_history_and_the_exam_list_escape_an_exam_title(client, student):
    exam = make_exam('<b>Bold</b> & "quoted"')
    make_attempt(student, exam, **COMPLETED)

    for path in ("/attempts/", "/exams/"):
        html = client.get(path).get_data(as_text=True)
        assert "<b>Bold</b>" not in html, path
        assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &#34;quoted&#34;" in html, path


def test_a_changed_score_shows_on_the_next_view_of_the_history_and_the_exam_list(client, student):
    # The pages keep what they wrote for a row or a card keyed by its values: a score a
    # webhook changes since is a new row, never the old one shown again.
    exam = make_exam("Physics")
    attempt = make_attempt(student, exam, **COMPLETED)
    assert "12 / 20" in page_text(client.get("/attempts/"))
    assert "Score 12 / 20 (60.0%) Not yet verified by Testpress" in exam_card(client.get("/exams/"), "Physics")

    attempt.score, attempt.percentage, attempt.score_source = 15.0, 75.0, "webhook"
    db.session.commit()

    history, card = page_text(client.get("/attempts/")), exam_card(client.get("/exams/"), "Physics")
    assert "15 / 20" in history and "75.0%" in history and "12 / 20" not in history
    assert "Verified by Testpress" in history
    assert "Score 15 / 20 (75.0%)" in card and "Not yet verified" not in card
