"""The Admin API: token auth, DRF-style pages, each filter and ordering, and API faults."""

from datetime import datetime
from urllib.parse import urlsplit

import pytest

from testpress_sandbox import api, faults
from testpress_sandbox.config import DEFAULTS
from testpress_sandbox.models import Attempt, User, db
from testpress_sandbox.seed import seed_attempts

DOCUMENTED_FIELDS = {
    "id", "date", "exam_id", "user_id", "email", "name", "phone", "correct_answers_count", "incorrect_answers_count",
    "unanswered_count", "score", "percentage", "time_taken", "remaining_time", "result", "state", "last_started_time",
    "last_answer_updated_time", "speed", "exam_url", "user_url",
}


def login(client) -> dict[str, str]:
    response = client.post(
        "/api/v2.5/auth-token/", json={"username": DEFAULTS["API_USERNAME"], "password": DEFAULTS["API_PASSWORD"]}
    )
    assert response.status_code == 200
    return {"Authorization": f"JWT {response.get_json()['token']}"}


@pytest.fixture
def auth(client):
    return login(client)


def get(client, auth, url, **params):
    response = client.get(url, headers=auth, query_string=params or None)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def follow_all(client, auth, url, **params) -> list[dict]:
    """Every result, following ``next`` to the end as the portal's sync does."""
    page = get(client, auth, url, **params)
    results = list(page["results"])
    while page["next"]:
        parts = urlsplit(page["next"])
        page = get(client, auth, f"{parts.path}?{parts.query}")
        results.extend(page["results"])
    return results


def add_attempt(app, *, user: int, exam: int, state="Completed", date="2025-03-01T10:00:00", correct=0, incorrect=0,
                unanswered=5):
    with app.app_context():
        if db.session.get(User, user) is None:
            db.session.add(User(id=user, username=f"user{user}", email=f"user{user}@example.com",
                                first_name=f"User {user}"))
        attempt = Attempt(
            user_id=user,
            exam_id=exam,
            state=state,
            date=datetime.fromisoformat(date),
            started_at=datetime.fromisoformat(date),
            total_count=correct + incorrect + unanswered,
            correct_answers_count=correct,
            incorrect_answers_count=incorrect,
            unanswered_count=unanswered,
            score=4 * correct - incorrect,
            max_score=4 * (correct + incorrect + unanswered),
        )
        db.session.add(attempt)
        db.session.commit()
        return attempt.id


# --- auth ---------------------------------------------------------------------------------------


def test_token_for_the_admin_credentials(client):
    response = client.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "sandbox-admin-password"})
    assert response.status_code == 200 and set(response.get_json()) == {"token"}


def test_form_encoded_login_works_too(client):
    response = client.post("/api/v2.5/auth-token/", data={"username": "admin", "password": "sandbox-admin-password"})
    assert response.status_code == 200


def test_bad_credentials_answer_400_like_drf(client):
    response = client.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "wrong"})
    assert response.status_code == 400
    assert response.get_json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_missing_credentials_are_named(client):
    response = client.post("/api/v2.5/auth-token/", json={"username": "admin"})
    assert response.status_code == 400 and response.get_json() == {"password": ["This field is required."]}


@pytest.mark.parametrize(
    "header, detail",
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer abc", "Authentication credentials were not provided."),
        ("JWT", "Authentication credentials were not provided."),
        ("JWT not-a-token", "Error decoding signature."),
    ],
)
@pytest.mark.parametrize("url", ["/api/v2.5/admin/attempts/", "/api/v2.5/admin/exams/", "/api/v2.5/admin/users/"])
def test_every_endpoint_needs_a_valid_token(client, url, header, detail):
    response = client.get(url, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.get_json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"].startswith("JWT")


def test_expire_tokens_fault_then_login_again(client, auth):
    faults.set_faults({"expire_tokens": True})
    response = client.get("/api/v2.5/admin/exams/", headers=auth)
    assert response.status_code == 401 and response.get_json() == {"detail": "Signature has expired."}
    assert client.get("/api/v2.5/admin/exams/", headers=login(client)).status_code == 200


def test_tokens_expire_after_the_ttl(client, app, auth):
    app.config["TOKEN_TTL"] = -1
    assert client.get("/api/v2.5/admin/exams/", headers=auth).status_code == 401


def test_a_token_from_another_sandbox_is_refused(client, app, auth):
    app.config["SECRET_KEY"] = "another-sandbox"
    assert client.get("/api/v2.5/admin/exams/", headers=auth).get_json() == {"detail": "Error decoding signature."}


# --- pagination ---------------------------------------------------------------------------------


def test_following_next_to_the_end_gives_every_attempt_once(client, app, auth):
    with app.app_context():
        seed_attempts(23)
    results = follow_all(client, auth, "/api/v2.5/admin/attempts/", page_size=5)
    assert [result["id"] for result in results] == list(range(1, 24))


def test_page_shape_and_links_keep_filters(client, app, auth):
    with app.app_context():
        seed_attempts(12)
    first = get(client, auth, "/api/v2.5/admin/attempts/", state=1, page_size=5)
    assert (first["count"], first["per_page"], len(first["results"]), first["previous"]) == (12, 5, 5, None)
    assert first["next"] == "http://localhost/api/v2.5/admin/attempts/?state=1&page_size=5&page=2"
    second = get(client, auth, "/api/v2.5/admin/attempts/", state=1, page_size=5, page=2)
    assert second["previous"] == "http://localhost/api/v2.5/admin/attempts/?state=1&page_size=5"
    last = get(client, auth, "/api/v2.5/admin/attempts/", state=1, page_size=5, page=3)
    assert last["next"] is None and len(last["results"]) == 2


def test_default_and_capped_page_size(client, app, auth):
    app.config["API_MAX_PAGE_SIZE"] = 300
    with app.app_context():
        seed_attempts(12)
    assert get(client, auth, "/api/v2.5/admin/attempts/")["per_page"] == 200
    assert get(client, auth, "/api/v2.5/admin/attempts/", page_size=500)["per_page"] == 300
    assert get(client, auth, "/api/v2.5/admin/attempts/", page_size="lots")["per_page"] == 200


def test_base_url_setting_makes_the_links(client, app, auth):
    app.config["BASE_URL"] = "https://sandbox.example/"
    with app.app_context():
        seed_attempts(3)
    page = get(client, auth, "/api/v2.5/admin/attempts/", page_size=1)
    assert page["next"].startswith("https://sandbox.example/api/v2.5/admin/attempts/?")
    assert page["results"][0]["exam_url"].startswith("https://sandbox.example/api/v2.5/admin/exams/")


@pytest.mark.parametrize("page", ["0", "2", "x"])
def test_a_page_past_the_end_is_404(client, app, auth, page):
    add_attempt(app, user=50, exam=1)
    response = client.get("/api/v2.5/admin/attempts/", headers=auth, query_string={"page": page})
    assert response.status_code == 404 and response.get_json() == {"detail": "Invalid page."}


def test_an_empty_list_is_one_empty_page(client, auth):
    page = get(client, auth, "/api/v2.5/admin/attempts/")
    assert (page["count"], page["next"], page["previous"], page["results"]) == (0, None, None, [])


# --- fields, filters and ordering ----------------------------------------------------------------


def test_result_fields(client, app, auth):
    attempt_id = add_attempt(app, user=50, exam=2, correct=3, incorrect=1, unanswered=0)
    [result] = get(client, auth, "/api/v2.5/admin/attempts/")["results"]
    assert DOCUMENTED_FIELDS | {"institute_attempt_id", "total_count", "max_score", "completed_on"} == set(result)
    assert result["id"] == attempt_id
    assert (result["exam_id"], result["user_id"], result["email"], result["state"]) == (
        2, 50, "user50@example.com", "Completed")
    assert (result["score"], result["percentage"], result["max_score"]) == ("11.00", 68.75, "16.00")
    assert result["date"] == "2025-03-01T10:00:00.000000Z"
    assert result["exam_url"] == "http://localhost/api/v2.5/admin/exams/2/"
    assert result["user_url"] == "http://localhost/api/v2.5/admin/users/50/"


@pytest.mark.parametrize("state, expected", [("0", "Running"), ("1", "Completed"), ("3", "Not Started")])
def test_state_filter(client, app, auth, state, expected):
    for number, each in enumerate(["Running", "Completed", "Not Started", "Completed"]):
        add_attempt(app, user=50 + number, exam=1, state=each)
    results = follow_all(client, auth, "/api/v2.5/admin/attempts/", state=state)
    assert results and {result["state"] for result in results} == {expected}
    assert len(results) == (2 if expected == "Completed" else 1)


def test_users_and_exams_filters(client, app, auth):
    mine = {add_attempt(app, user=50, exam=2), add_attempt(app, user=50, exam=2)}
    add_attempt(app, user=50, exam=1)
    add_attempt(app, user=51, exam=2)
    assert {r["id"] for r in follow_all(client, auth, "/api/v2.5/admin/attempts/", users=50, exams=2)} == mine
    assert len(follow_all(client, auth, "/api/v2.5/admin/attempts/", users=50)) == 3
    assert len(follow_all(client, auth, "/api/v2.5/admin/attempts/", exams=2)) == 3


def test_date_filters_include_whole_days(client, app, auth):
    early = add_attempt(app, user=50, exam=1, date="2020-01-10T23:59:59")
    first_day = add_attempt(app, user=50, exam=1, date="2020-01-11T00:00:00")
    last_day = add_attempt(app, user=50, exam=1, date="2021-02-02T23:59:59")
    late = add_attempt(app, user=50, exam=1, date="2021-02-03T00:00:00")
    url = "/api/v2.5/admin/attempts/"
    ids = lambda **params: [r["id"] for r in follow_all(client, auth, url, **params)]  # noqa: E731
    assert ids(date_0="2020-01-11", date_1="2021-02-02", ordering="date") == [first_day, last_day]
    assert ids(date_0="2021-02-03") == [late]
    assert ids(date_1="2020-01-10") == [early]
    assert ids(date_0="2020-01-11T00:00:00Z", date_1="2021-02-02T23:59:59+00:00") == [first_day, last_day]


@pytest.mark.parametrize(
    "params, field",
    [({"state": "2"}, "state"), ({"date_0": "yesterday"}, "date_0"), ({"users": "me"}, "users"),
     ({"exams": "1;2"}, "exams"), ({"ordering": "score"}, "ordering")],
)
def test_bad_filters_answer_400_naming_the_parameter(client, auth, params, field):
    response = client.get("/api/v2.5/admin/attempts/", headers=auth, query_string=params)
    assert response.status_code == 400 and field in response.get_json()


ORDERINGS = ["date", "correct_answers_count", "incorrect_answers_count", "unanswered_count"]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("field", ORDERINGS)
def test_ordering_with_a_stable_tie_break(client, app, auth, field, descending):
    rows = [
        dict(date="2025-01-03T00:00:00", correct=2, incorrect=1, unanswered=2),
        dict(date="2025-01-01T00:00:00", correct=4, incorrect=0, unanswered=1),
        dict(date="2025-01-03T00:00:00", correct=2, incorrect=3, unanswered=0),
        dict(date="2025-01-02T00:00:00", correct=0, incorrect=1, unanswered=4),
    ]
    for row in rows:
        add_attempt(app, user=50, exam=1, **row)
    results = follow_all(client, auth, "/api/v2.5/admin/attempts/", ordering=("-" if descending else "") + field,
                         page_size=2)
    keys = [(r[field], r["id"]) for r in results]
    expected = sorted(keys, key=lambda key: (key[0], -key[1]) if descending else key, reverse=descending)
    assert keys == expected and len(keys) == 4


def test_exams_endpoint(client, auth):
    page = get(client, auth, "/api/v2.5/admin/exams/")
    assert page["count"] == 3
    physics = page["results"][0]
    assert {key: physics[key] for key in ("id", "title", "slug", "url", "duration", "number_of_questions")} == {
        "id": 1,
        "title": "Physics Mock 1",
        "slug": "physics-mock-1",
        "url": "http://localhost/exams/run/physics-mock-1/start/",
        "duration": "0:30:00",
        "number_of_questions": 5,
    }
    assert get(client, auth, "/api/v2.5/admin/exams/3/")["slug"] == "maths-drill"
    assert client.get("/api/v2.5/admin/exams/99/", headers=auth).status_code == 404


def test_users_endpoint_filters_by_email(client, app, auth):
    add_attempt(app, user=50, exam=1)
    add_attempt(app, user=51, exam=1)
    page = get(client, auth, "/api/v2.5/admin/users/", email="USER51@example.com")
    assert page["results"] == [{"id": 51, "username": "user51", "email": "user51@example.com", "first_name": "User 51"}]
    assert get(client, auth, "/api/v2.5/admin/users/", email="nobody@example.com")["count"] == 0
    assert get(client, auth, "/api/v2.5/admin/users/")["count"] == 3  # with the seeded admin
    assert get(client, auth, "/api/v2.5/admin/users/50/")["email"] == "user50@example.com"


def test_unknown_api_path_answers_json(client, auth):
    response = client.get("/api/v2.5/admin/nothing/", headers=auth)
    assert response.status_code == 404 and "detail" in response.get_json()


# --- faults -------------------------------------------------------------------------------------


def test_throttle_fault_answers_429_with_retry_after_then_recovers(client, auth):
    faults.set_faults({"api_throttle_next": 2, "api_retry_after": 7})
    for _ in range(2):
        response = client.get("/api/v2.5/admin/exams/", headers=auth)
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert client.get("/api/v2.5/admin/exams/", headers=auth).status_code == 200


def test_fail_fault_answers_500_for_the_next_requests_including_login(client):
    faults.set_faults({"api_fail_next": 1})
    assert client.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "x"}).status_code == 500
    assert client.get("/api/v2.5/admin/exams/", headers=login(client)).status_code == 200


def test_delay_fault_slows_every_answer(client, auth, monkeypatch):
    slept = []
    monkeypatch.setattr(api.time, "sleep", slept.append)
    faults.set_faults({"api_delay": 2.5})
    client.get("/api/v2.5/admin/exams/", headers=auth)
    client.get("/api/v2.5/admin/users/", headers=auth)
    assert slept == [2.5, 2.5]
