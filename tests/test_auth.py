"""Logging in and out, as a person at the login form sees it."""

import pytest

from tests.factories import make_staff, make_user


def test_login_page_shows_the_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b'name="email"' in response.data and b'name="password"' in response.data


def test_student_logs_in_and_lands_on_exams(client, auth):
    make_user("asha@example.com")
    response = auth.login("asha@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/exams/"


def test_staff_lands_on_the_dashboard(client, auth):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    assert client.get("/").headers["Location"] == "/admin/"


def test_email_is_matched_case_insensitively(client, auth):
    make_user("asha@example.com")
    assert auth.login("  Asha@Example.COM ").status_code == 302


def test_unknown_email_and_wrong_password_look_the_same(client, auth):
    make_user("asha@example.com")
    unknown = auth.login("nobody@example.com")
    wrong = auth.login("asha@example.com", password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert b"Incorrect email or password." in unknown.data
    # The pages differ only by the email the form echoes back.
    assert unknown.data.replace(b"nobody@example.com", b"") == wrong.data.replace(b"asha@example.com", b"")


def test_deactivated_user_cannot_log_in(client, auth):
    make_user("gone@example.com", active=False)
    response = auth.login("gone@example.com")
    assert response.status_code == 401
    assert b"Incorrect email or password." in response.data
    assert client.get("/").headers["Location"] == "/login"


def test_deactivated_user_is_logged_out_on_next_request(app, client, auth):
    from portal.extensions import db

    user = make_user("soon-gone@example.com")
    auth.login("soon-gone@example.com")
    user.active = False
    db.session.commit()
    assert client.get("/").headers["Location"] == "/login"


def test_logout_ends_the_session(client, auth):
    make_user("asha@example.com")
    auth.login("asha@example.com")
    response = auth.logout()
    assert response.headers["Location"] == "/login"
    assert client.get("/").headers["Location"] == "/login"


def test_logout_by_get_is_refused(client, auth):
    make_user("asha@example.com")
    auth.login("asha@example.com")
    assert client.get("/logout").status_code == 405


def test_next_on_this_site_is_honoured(client, auth):
    make_staff("boss@example.com")
    response = auth.login("boss@example.com", next="/admin/people/")
    assert response.headers["Location"] == "/admin/people/"


@pytest.mark.parametrize("target", [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "/\tevil",
    "",
])
def test_unsafe_next_lands_on_the_dashboard(client, auth, target):
    make_user("asha@example.com")
    response = auth.login("asha@example.com", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_protected_page_sends_anonymous_visitor_to_login_with_next(client):
    response = client.get("/admin/people/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logged_in_visitor_to_login_is_sent_home(client, auth):
    make_user("asha@example.com")
    auth.login("asha@example.com")
    assert client.get("/login").headers["Location"] == "/"


def test_session_cookie_flags(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    with app.app_context():
        make_user("asha@example.com")
    client = app.test_client()
    response = client.post("/login", data={"email": "asha@example.com", "password": "correct horse battery staple",
                                           "remember": "y"})
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    session_cookie = cookies["session"]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Secure" in session_cookie
    remember = cookies["remember_token"]
    assert "HttpOnly" in remember and "SameSite=Lax" in remember and "Secure" in remember
    assert "Expires=" in remember


def test_login_without_csrf_token_is_refused(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
    response = app.test_client().post("/login", data={"email": "asha@example.com",
                                                      "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert b"This form has expired" in response.data


def test_login_with_csrf_token_works(make_app):
    import re

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
    client = app.test_client()
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").data).group(1)
    response = client.post("/login", data={"email": "asha@example.com", "password": "correct horse battery staple",
                                           "csrf_token": token.decode()})
    assert response.status_code == 302


def test_failed_login_is_logged_without_the_password(client, auth, caplog):
    caplog.set_level("INFO")
    auth.login("nobody@example.com", password="hunter2-secret")
    assert "failed attempt" in caplog.text
    assert "hunter2-secret" not in caplog.text


def test_repeated_password_guesses_are_slowed_down(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [client.post("/login", data={"email": "a@example.com", "password": "guess"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert b"Too many requests" in client.post("/login", data={"email": "a@example.com", "password": "x"}).data
    assert client.get("/login").status_code == 200  # the form itself stays reachable
