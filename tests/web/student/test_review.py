"""The review link: /attempts/<id>/review signs at click time and redirects to Testpress."""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from portal.testpress.signing import verify_review_hmac
from portal.web.student import views as student_views
from tests import VECTORS_FILE
from tests.conftest import TEST_SETTINGS
from tests.factories import make_attempt, make_exam, make_staff, make_user

VECTORS = json.loads(VECTORS_FILE.read_text())


@pytest.fixture
def student(auth):
    user = make_user()
    auth.login(user.email)
    return user


@pytest.fixture
def frozen_clock(monkeypatch):
    """Fix the signing time, so a test can compare a whole signed URL."""
    def freeze(epoch: int):
        monkeypatch.setattr(student_views.time, "time", lambda: float(epoch))
    return freeze


def review_target(response):
    location = urlsplit(response.headers["Location"])
    return location, dict(parse_qsl(location.query, keep_blank_values=True))


@pytest.mark.parametrize("vector", VECTORS["review"], ids=lambda v: v["name"])
def test_review_redirects_to_the_url_the_golden_vectors_sign(client, student, frozen_clock, vector):
    fields = vector["fields"]
    attempt = make_attempt(student, make_exam(), status="completed", testpress_attempt_id=fields["id"],
                           institute_attempt_id=int(fields["institute_attempt_id"]))
    frozen_clock(int(fields["time"]))

    response = client.get(f"/attempts/{attempt.id}/review")

    assert response.status_code == 302
    location, query = review_target(response)
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://testpress.example/exams/attempts/"
    assert query == {**fields, "hmac": vector["digest"]}  # all five parameters, nothing else
    assert response.headers["Cache-Control"] == "no-store"


def test_review_signs_with_the_time_of_the_click(client, student, frozen_clock):
    attempt = make_attempt(student, make_exam(), status="completed", testpress_attempt_id="68701")
    frozen_clock(1_800_000_000)
    _, first = review_target(client.get(f"/attempts/{attempt.id}/review"))
    frozen_clock(1_800_000_600)
    _, later = review_target(client.get(f"/attempts/{attempt.id}/review"))

    assert (first["time"], later["time"]) == ("1800000000", "1800000600")
    for query in (first, later):
        assert verify_review_hmac(
            TEST_SETTINGS["TESTPRESS_SECRET"], query["hmac"], attempt_id=query["id"],
            institute_attempt_id=query["institute_attempt_id"], key=query["key"], time=query["time"])


def test_attempt_taken_outside_the_portal_has_no_review_link_and_says_where_to_review_it(client, student):
    # Testpress's review by HMAC signs the portal's institute_attempt_id beside its own id: an
    # attempt taken on Testpress directly has none, and Testpress (the sandbox) refuses "".
    attempt = make_attempt(student, make_exam(), status="completed", testpress_attempt_id="4242",
                           institute_attempt_id=None, launch_time=None, score=12.0, score_source="webhook")

    response = client.get(f"/attempts/{attempt.id}/review")
    assert response.status_code == 404 and "Location" not in response.headers
    assert ("There is no review of this attempt here. Taken on Testpress directly: review it there."
            in response.get_data(as_text=True))
    for page in (f"/attempts/{attempt.id}", "/attempts/"):
        text = client.get(page).get_data(as_text=True)
        assert "Taken on Testpress directly: review it there." in text
        assert f"/attempts/{attempt.id}/review" not in text


def test_staff_see_why_an_attempt_taken_outside_the_portal_has_no_review_link(client, auth):
    attempt = make_attempt(make_user(), make_exam(testpress_id=12), status="completed", testpress_attempt_id="4242",
                           institute_attempt_id=None, launch_time=None, score=12.0, score_source="webhook")
    auth.login(make_staff().email)

    page = client.get(f"/admin/attempts/{attempt.id}").get_data(as_text=True)

    assert "taken on Testpress directly" in page and "/review" not in page
    assert f"/admin/attempts/{attempt.id}/confirm" in page  # the Admin API can still be asked


def test_attempt_testpress_does_not_know_has_nothing_to_review(client, student):
    attempt = make_attempt(student, make_exam(), status="cancelled")

    response = client.get(f"/attempts/{attempt.id}/review")

    assert response.status_code == 404
    assert "There is no review of this attempt yet. Finish the attempt to review it." in response.get_data(as_text=True)


def test_another_students_review_is_not_found(client, student):
    attempt = make_attempt(make_user(), make_exam(), status="completed", testpress_attempt_id="68701")

    response = client.get(f"/attempts/{attempt.id}/review")

    assert response.status_code == 404
    assert "Location" not in response.headers


def test_staff_may_open_any_review(client, auth):
    attempt = make_attempt(make_user(), make_exam(), status="completed", testpress_attempt_id="68701")
    auth.login(make_staff().email)

    response = client.get(f"/attempts/{attempt.id}/review")

    assert response.status_code == 302
    assert review_target(response)[1]["id"] == "68701"
