"""Strict-Transport-Security over HTTPS, and no stored copies of pages with a person's data."""

import pytest

from tests.factories import make_attempt, make_exam, make_staff, make_user
from tests.web.testpress.test_return import signed_return


def test_hsts_is_sent_over_https(client):
    response = client.get("/login", base_url="https://portal.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_no_hsts_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_hsts_follows_the_scheme_the_proxy_reports(make_app):
    client = make_app(PROXY_COUNT=1).test_client()
    behind_tls = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login", headers={"X-Forwarded-Proto": "http"}).headers


def test_an_unproxied_app_ignores_a_forged_forwarded_scheme(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("path", ["/exams/", "/attempts/", "/attempts/{attempt}"])
def test_a_students_pages_are_never_stored(app, client, auth, path):
    student = make_user("asha@example.com")
    attempt = make_attempt(student, make_exam(), status="completed", score=10, percentage=50)
    auth.login("asha@example.com")

    response = client.get(path.format(attempt=attempt.id))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin/", "/admin/attempts/", "/admin/people/", "/admin/testpress/"])
def test_staff_pages_are_never_stored(app, client, auth, path):
    make_staff("staff@example.com")
    auth.login("staff@example.com")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_the_return_carrying_answers_is_never_stored(app, client):
    attempt = make_attempt(make_user("ravi@example.com", "Ravi Kumar"), make_exam())
    by_post = client.post("/testpress/return", data=signed_return(attempt))
    by_get = client.get("/testpress/return", query_string=signed_return(attempt))
    refused = client.get("/testpress/return", query_string=signed_return(attempt, hmac="0" * 64))
    assert [r.headers["Cache-Control"] for r in (by_post, by_get, refused)] == ["no-store"] * 3
    assert refused.status_code == 400


def test_static_files_keep_normal_caching(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["ETag"]  # revalidated, not refetched
