"""The one-time password link's page: choose a password once; a spent, expired or unknown link is 410."""

from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import PasswordLink, User, utcnow
from portal.password_links import issue_link
from portal.passwords import check_password, unusable_password_hash
from tests.factories import make_user


def imported(email: str) -> User:
    """A person as the import leaves one without a password."""
    person = make_user(email)
    person.password_hash = unusable_password_hash()
    db.session.commit()
    return person


def new_link(person) -> str:
    token = issue_link(person, by=None)
    db.session.commit()
    return f"/password/{token}"


def test_a_link_sets_the_password_once(client):
    person = imported("anu@example.com")
    path = new_link(person)
    assert "Choose a password" in client.get(path).get_data(as_text=True)
    response = client.post(path, data={"password": "anus-new-pass", "confirm": "anus-new-pass"})
    assert response.headers["Location"] == "/login"
    db.session.expire_all()
    assert check_password(db.session.get(User, person.id).password_hash, "anus-new-pass")
    assert client.post("/login", data={"email": "anu@example.com", "password": "anus-new-pass"}).status_code == 302
    client.post("/logout")
    again = client.post(path, data={"password": "other-password", "confirm": "other-password"})
    assert again.status_code == 410 and "no longer works" in again.get_data(as_text=True)


def test_a_refused_password_shows_the_form_again(client):
    path = new_link(make_user())
    short = client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)
    differ = client.post(path, data={"password": "long-enough-1", "confirm": "long-enough-2"})
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)
    assert db.session.scalar(sa.select(PasswordLink.used_at)) is None  # still usable


def test_an_expired_or_unknown_link_is_410(client):
    path = new_link(make_user())
    link = db.session.scalar(sa.select(PasswordLink))
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(path).status_code == 410
    assert client.get("/password/not-a-token").status_code == 410
    assert client.get("/password/" + "x" * 500).status_code == 410


def test_an_account_without_a_usable_password_opens_with_no_password(client):
    imported("anu@example.com")
    for guess in ("", "!", "anything at all"):
        assert not check_password(unusable_password_hash(), guess)
    assert client.post("/login", data={"email": "anu@example.com", "password": "!"}).status_code == 401
