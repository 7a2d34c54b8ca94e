"""The session cookie, signed by a signer the app builds once per secret key."""

from tests.conftest import AuthActions
from tests.factories import make_user


def logged_in_client(make_app):
    """A client logged in as a student, its requests outside any app context of the test's
    (one pushed by the test would carry the logged-in user from request to request in `g`)."""
    app = make_app()
    with app.app_context():
        make_user("asha@example.com")
    client = app.test_client()
    AuthActions(client).login("asha@example.com")
    return app, client


def test_a_logged_in_student_stays_logged_in_across_requests(make_app):
    _app, client = logged_in_client(make_app)
    assert client.get("/exams/").status_code == 200
    assert client.get("/exams/").status_code == 200


def test_a_new_secret_key_refuses_the_old_cookie_and_a_fallback_keeps_it(make_app):
    """The signer is kept per key: one kept past a key's change would still accept the old cookies."""
    app, client = logged_in_client(make_app)
    assert client.get("/exams/").status_code == 200
    first_key = app.secret_key
    app.secret_key = "another-secret-key-for-this-test-only"
    assert client.get("/exams/").status_code == 302  # to the login page: the cookie no longer verifies

    AuthActions(client).login("asha@example.com")  # signed with the second key
    app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = "a-third-key-for-this-test-only", [app.secret_key]
    assert client.get("/exams/").status_code == 200  # the second key, now a fallback, still verifies it
    app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = first_key, []
    assert client.get("/exams/").status_code == 302  # a key it was never signed with
