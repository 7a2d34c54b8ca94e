"""The pages' CSRF token: signed once a minute per session (portal.web.csrf_tokens), never
another session's, and accepted as Flask-WTF's own."""

import re

from portal.web import csrf_tokens
from tests.factories import PASSWORD, make_user


def token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)[1]


def logged_in(app, email: str):
    client = app.test_client()
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token(client, "/login")})
    return client


def test_a_sessions_pages_carry_one_token_a_minute_another_session_never_has_it_and_it_posts(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
        make_user("ravi@example.com")
    asha, ravi = logged_in(app, "asha@example.com"), logged_in(app, "ravi@example.com")

    first, again = token(asha, "/exams/"), token(asha, "/attempts/")
    theirs = token(ravi, "/exams/")

    assert first == again  # signed once, written twice
    assert theirs != first
    # Another session's token is refused, as Flask-WTF refuses it.
    refused = ravi.post("/logout", data={"csrf_token": first})
    assert refused.status_code == 400
    # The token written twice posts as its own session's.
    response = asha.post("/logout", data={"csrf_token": first})
    assert response.status_code == 302
    assert asha.get("/exams/").status_code == 302  # logged out: back to the login


def test_a_token_is_signed_again_once_its_minute_is_over(make_app, monkeypatch):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user("asha@example.com")
    asha = logged_in(app, "asha@example.com")
    signed = []
    real = csrf_tokens.generate_csrf
    monkeypatch.setattr(csrf_tokens, "generate_csrf", lambda: signed.append(1) or real())
    clock = [1000.0]
    monkeypatch.setattr(csrf_tokens.time, "monotonic", lambda: clock[0])

    token(asha, "/exams/")
    clock[0] += csrf_tokens.REUSE_SECONDS - 1
    token(asha, "/attempts/")
    assert len(signed) == 1
    clock[0] += 2
    token(asha, "/exams/")
    assert len(signed) == 2
