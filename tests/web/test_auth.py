"""Logging in and out, as a person at the login form sees it."""

from urllib.parse import quote

import pytest

from tests.factories import PASSWORD, make_staff, make_user


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
    from portal.core.extensions import db

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


@pytest.mark.parametrize("page", ["/exams/", "/attempts/?exam=1", "/admin/people/", "/account"])
def test_every_guard_answers_an_anonymous_visitor_alike(client, page):
    """One login guard: the student's, the staff's and the account page's say the same thing."""
    response = client.get(page)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={quote(page, safe='')}"
    assert "Please log in to continue." in client.get(response.headers["Location"]).get_data(as_text=True)


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


def test_a_csrf_token_read_before_login_or_logout_is_refused_after_it(make_app):
    import re

    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
    client = app.test_client()

    def token(path):
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]

    before_login = token("/login")
    assert client.post("/login", data={"email": "asha@example.com", "password": "correct horse battery staple",
                                       "csrf_token": before_login}).status_code == 302
    stale = client.post("/account", data={"current": "x", "password": "y" * 12, "confirm": "y" * 12,
                                          "csrf_token": before_login})
    assert stale.status_code == 400 and "This form has expired" in stale.get_data(as_text=True)

    signed_in = token("/account")
    assert client.post("/logout", data={"csrf_token": signed_in}).status_code == 302
    after_logout = client.post("/login", data={"email": "asha@example.com", "password": "correct horse battery staple",
                                               "csrf_token": signed_in})
    assert after_logout.status_code == 400


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


# -- a session ends on the server: logout, deactivation, a new password -----------------------
# These tests make their requests with no app context pushed: a pushed one would share Flask's
# `g`, where Flask-Login caches the current user, between the test's "browsers".


@pytest.fixture
def portal(make_app):
    app = make_app()
    with app.app_context():
        asha_id = make_user("asha@example.com").id
        make_staff("boss@example.com")
    app.config["ASHA_ID"] = asha_id
    return app


def log_in(app, email, password=PASSWORD, **fields):
    browser = app.test_client()
    response = browser.post("/login", data={"email": email, "password": password, **fields})
    assert response.status_code == 302, response.status_code
    return browser


def visit_with(app, **cookies):
    """/exams/ from a fresh browser holding only these cookies, as someone who copied them would."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other.get("/exams/")


def sent_to_login(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_session_cookie_copied_before_logout_stops_working(portal):
    browser = log_in(portal, "asha@example.com")
    saved = browser.get_cookie("session").value
    assert visit_with(portal, session=saved).status_code == 200  # the copy works while logged in

    browser.post("/logout")

    assert sent_to_login(visit_with(portal, session=saved))


def test_a_remember_me_cookie_stops_working_after_logout(portal):
    browser = log_in(portal, "asha@example.com", remember="y")
    remembered = browser.get_cookie("remember_token").value
    assert visit_with(portal, remember_token=remembered).status_code == 200

    browser.post("/logout")

    assert sent_to_login(visit_with(portal, remember_token=remembered))


def test_logging_out_on_one_device_ends_the_others(portal):
    phone, laptop = log_in(portal, "asha@example.com"), log_in(portal, "asha@example.com")
    phone.post("/logout")
    assert sent_to_login(laptop.get("/exams/"))


def test_deactivation_ends_the_persons_sessions_even_once_reactivated(portal):
    saved = log_in(portal, "asha@example.com").get_cookie("session").value
    staff = log_in(portal, "boss@example.com")
    toggle = f"/admin/people/{portal.config['ASHA_ID']}/active"

    assert staff.post(toggle, data={"active": "0"}).status_code == 302  # deactivated
    assert sent_to_login(visit_with(portal, session=saved))
    assert staff.post(toggle, data={"active": "1"}).status_code == 302  # and active again

    assert sent_to_login(visit_with(portal, session=saved))
    assert log_in(portal, "asha@example.com").get("/exams/").status_code == 200  # a fresh login works


def test_a_password_change_ends_every_session(portal):
    saved = log_in(portal, "asha@example.com").get_cookie("session").value
    assert visit_with(portal, session=saved).status_code == 200

    result = portal.test_cli_runner().invoke(args=["set-password", "asha@example.com", "--password", "a-new-password"])

    assert result.exit_code == 0, result.output
    assert sent_to_login(visit_with(portal, session=saved))
    assert log_in(portal, "asha@example.com", "a-new-password").get("/exams/").status_code == 200


def test_a_cookie_from_before_session_versions_is_refused(portal):
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(portal)
    old_style = serializer.dumps({"_user_id": str(portal.config["ASHA_ID"]), "_fresh": True})
    assert sent_to_login(visit_with(portal, session=old_style))
