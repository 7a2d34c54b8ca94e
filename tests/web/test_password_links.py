"""One-time password links, as a student meets them, and the account page's own password change.

The requests run with no app context pushed (see tests/people/test_people.py): several "browsers"
must not share Flask-Login's cached user.
"""

import hashlib
import logging
import re
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.extensions import db
from portal.core.passwords import check_password
from portal.models import PasswordLink, User
from portal.people import password_links
from tests.factories import PASSWORD, make_staff, make_user

NEW_PASSWORD = "a brand new password"
EXPIRED = "This link has expired or was already used; ask your institute's staff for a new one"


@pytest.fixture
def portal(make_app):
    app = make_app()
    with app.app_context():
        make_staff("boss@example.com", name="Boss")
        app.config["ASHA_ID"] = make_user("asha@example.com", "Asha Rao").id
    return app


def browser(app, email=None, password=PASSWORD):
    client = app.test_client()
    if email:
        assert client.post("/login", data={"email": email, "password": password}).status_code == 302
    return client


def issue_link(app) -> str:
    """A link for Asha, as staff create it on her page: the URL the page shows."""
    response = browser(app, "boss@example.com").post(f"/admin/people/{app.config['ASHA_ID']}/password-link")
    assert response.status_code == 200
    return re.search(r'value="http://localhost(/password/[^"]+)"', response.get_data(as_text=True)).group(1)


def asha_password_is(app, password) -> bool:
    with app.app_context():
        return check_password(db.session.scalar(sa.select(User.password_hash).where(User.email == "asha@example.com")),
                              password)


def set_through(client, link, password=NEW_PASSWORD, confirm=None):
    return client.post(link, data={"password": password, "confirm": confirm or password})


def test_a_link_sets_a_password_once_then_says_it_was_used(portal):
    link = issue_link(portal)
    student = browser(portal)

    form = student.get(link)
    assert form.status_code == 200
    assert "Choose a new password" in form.get_data(as_text=True) and "asha@example.com" in form.get_data(as_text=True)

    response = set_through(student, link)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your new password is set. Log in with it." in student.get("/login").get_data(as_text=True)
    assert asha_password_is(portal, NEW_PASSWORD)
    assert student.post("/login", data={"email": "asha@example.com", "password": NEW_PASSWORD}).status_code == 302

    again = browser(portal).get(link)
    assert again.status_code == 404 and EXPIRED in again.get_data(as_text=True)
    assert set_through(browser(portal), link, "yet another password").status_code == 404
    assert asha_password_is(portal, NEW_PASSWORD)


def test_the_links_pages_send_no_referrer(portal):
    link = issue_link(portal)
    student = browser(portal)
    assert student.get(link).headers["Referrer-Policy"] == "no-referrer"
    assert set_through(student, link, "short", "short").headers["Referrer-Policy"] == "no-referrer"
    done = set_through(student, link)
    assert done.status_code == 302 and done.headers["Referrer-Policy"] == "no-referrer"
    assert student.get(link).headers["Referrer-Policy"] == "no-referrer"  # the used link's 404
    assert student.get("/login").headers["Referrer-Policy"] == "same-origin"  # other pages as before


def test_a_link_expires_after_24_hours(portal, monkeypatch):
    link = issue_link(portal)
    now = utcnow()
    monkeypatch.setattr(password_links, "utcnow", lambda: now + timedelta(hours=23, minutes=59))
    assert browser(portal).get(link).status_code == 200

    monkeypatch.setattr(password_links, "utcnow", lambda: now + timedelta(hours=24, minutes=1))
    expired = browser(portal).get(link)
    assert expired.status_code == 404 and EXPIRED in expired.get_data(as_text=True)
    assert set_through(browser(portal), link).status_code == 404
    assert asha_password_is(portal, PASSWORD)


def test_a_guessed_link_is_a_friendly_404_and_the_database_holds_only_a_hash(portal):
    link = issue_link(portal)
    token = link.removeprefix("/password/")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64

    guessed = browser(portal).get(f"/password/{secrets.token_urlsafe(32)}")
    assert guessed.status_code == 404 and EXPIRED in guessed.get_data(as_text=True)
    assert browser(portal).get("/password/x").status_code == 404

    with portal.app_context():
        [row] = db.session.execute(sa.select(PasswordLink.__table__)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert all(token not in str(value) for value in row)


def test_the_token_never_reaches_the_request_log(portal, caplog):
    link = issue_link(portal)
    with caplog.at_level(logging.INFO):
        browser(portal).get(link)
        set_through(browser(portal), link)
    token = link.removeprefix("/password/")
    assert "/password/<token>" in caplog.text
    assert token not in caplog.text


def test_the_two_passwords_must_match_and_be_long_enough_and_the_link_still_works(portal):
    link = issue_link(portal)
    student = browser(portal)

    differ = set_through(student, link, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)
    short = set_through(student, link, "short")
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)
    assert asha_password_is(portal, PASSWORD)

    assert set_through(student, link).status_code == 302
    assert asha_password_is(portal, NEW_PASSWORD)


def test_the_link_works_whoever_is_logged_in_and_ends_the_persons_sessions(portal):
    link = issue_link(portal)
    asha_elsewhere = browser(portal, "asha@example.com")
    asha_here = browser(portal, "asha@example.com")

    assert set_through(asha_here, link).status_code == 302
    assert asha_elsewhere.get("/exams/").headers["Location"].startswith("/login")

    second = issue_link(portal)
    staff = browser(portal, "boss@example.com")  # a staff member opening it to try it
    assert staff.get(second).status_code == 200
    assert set_through(staff, second, "third password here").status_code == 302
    assert asha_password_is(portal, "third password here")
    assert staff.get("/admin/").status_code == 200  # the staff member's own session goes on


def test_a_deactivated_persons_link_does_not_work(portal):
    link = issue_link(portal)
    browser(portal, "boss@example.com").post(f"/admin/people/{portal.config['ASHA_ID']}/active",
                                                data={"active": "0"})
    assert browser(portal).get(link).status_code == 404


def test_setting_a_password_through_one_link_spends_the_persons_other_links(portal):
    first, second = issue_link(portal), issue_link(portal)
    assert set_through(browser(portal), second, "from the second").status_code == 302
    refused = set_through(browser(portal), first, "from the first!")
    assert refused.status_code == 404 and EXPIRED in refused.get_data(as_text=True)
    assert asha_password_is(portal, "from the second")


def test_a_new_link_replaces_the_persons_older_one(portal):
    lost = issue_link(portal)
    staff = browser(portal, "boss@example.com")
    issued = staff.post(f"/admin/people/{portal.config['ASHA_ID']}/password-link").get_data(as_text=True)
    assert "Any earlier link for Asha Rao no longer works." in issued
    replacement = re.search(r'value="http://localhost(/password/[^"]+)"', issued).group(1)

    refused = browser(portal).get(lost)
    assert refused.status_code == 404 and EXPIRED in refused.get_data(as_text=True)
    assert "1 unused link still valid." in staff.get(f"/admin/people/{portal.config['ASHA_ID']}").get_data(as_text=True)
    assert set_through(browser(portal), replacement).status_code == 302
    assert asha_password_is(portal, NEW_PASSWORD)


def test_changing_a_password_on_the_account_page_spends_open_links(portal):
    link = issue_link(portal)
    student = browser(portal, "asha@example.com")
    assert change(student).status_code == 302
    assert browser(portal).get(link).status_code == 404
    assert asha_password_is(portal, NEW_PASSWORD)


def test_staff_setting_a_password_from_the_command_line_spends_open_links(portal):
    link = issue_link(portal)
    result = portal.test_cli_runner().invoke(args=["set-password", "asha@example.com"],
                                             input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert browser(portal).get(link).status_code == 404


# --- the account page ----------------------------------------------------------------------

def change(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post("/account", data={"current": current, "password": new, "confirm": confirm or new})


def test_the_account_page_shows_who_is_logged_in_and_the_navigation_links_it(portal):
    student = browser(portal, "asha@example.com")
    page = student.get("/account").get_data(as_text=True)
    assert "Asha Rao" in page and "asha@example.com" in page and "Change my password" in page
    assert 'href="/account"' in student.get("/exams/").get_data(as_text=True)
    assert 'href="/account"' in browser(portal, "boss@example.com").get("/admin/").get_data(as_text=True)


def test_the_account_page_needs_a_login(portal):
    response = browser(portal).get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_changing_ones_password_keeps_this_session_and_ends_the_others(portal):
    here, elsewhere = browser(portal, "asha@example.com"), browser(portal, "asha@example.com")

    response = change(here)

    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your password is changed." in here.get("/account").get_data(as_text=True)
    assert here.get("/exams/").status_code == 200
    assert elsewhere.get("/exams/").headers["Location"].startswith("/login")
    assert asha_password_is(portal, NEW_PASSWORD)


@pytest.mark.parametrize("fields, complaint", [
    ({"current": "not my password"}, "This is not your current password."),
    ({"confirm": "a different new password"}, "The two passwords differ."),
    ({"new": "short", "confirm": "short"}, "at least 8 characters"),
    ({"current": ""}, "This field is required."),
])
def test_a_refused_change_says_why_and_changes_nothing(portal, fields, complaint):
    student = browser(portal, "asha@example.com")
    response = change(student, **fields)
    assert response.status_code == 422
    assert complaint in response.get_data(as_text=True)
    assert asha_password_is(portal, PASSWORD)
    assert student.get("/exams/").status_code == 200


def test_guessing_the_current_password_meets_the_logins_limit(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="5 per 15 minutes")
    with app.app_context():
        make_user("asha@example.com")
    session_holder = browser(app, "asha@example.com")
    statuses = [change(session_holder, current=f"guess {n}").status_code for n in range(7)]

    assert statuses == [422] * 5 + [429] * 2
    refused = change(session_holder)  # the right one, from the address that was guessing
    assert refused.status_code == 429 and "Too many login attempts for this account" in refused.get_data(as_text=True)
    assert asha_password_is(app, PASSWORD)
    # The same count as the login's: the guesser cannot go on there either.
    assert browser(app).post("/login", data={"email": "asha@example.com", "password": "guess 9"}).status_code == 429


def test_a_refused_post_to_a_link_logs_the_route_not_the_token(make_app, caplog):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        token = password_links.issue_link(make_user("asha@example.com"), by=None)
        db.session.commit()
    with caplog.at_level(logging.INFO):
        response = app.test_client().post(f"/password/{token}", data={"password": NEW_PASSWORD,
                                                                      "confirm": NEW_PASSWORD})
    assert response.status_code == 400  # no CSRF token
    assert "csrf: POST /password/<token> refused" in caplog.text
    assert token not in caplog.text


def test_a_refused_change_says_everything_wrong_at_once(portal):
    student = browser(portal, "asha@example.com")

    response = change(student, current="not my password", new="short", confirm="shorter")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This is not your current password." in page
    assert "at least 8 characters" in page and "The two passwords differ." in page
    assert asha_password_is(portal, PASSWORD)


def test_an_empty_current_password_is_not_counted_as_a_wrong_guess(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    with app.app_context():
        make_user("asha@example.com")
    student = browser(app, "asha@example.com")

    statuses = [change(student, current="", new="short").status_code for _ in range(3)]

    assert statuses == [422] * 3
    assert change(student).status_code == 302
