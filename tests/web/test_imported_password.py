"""A person imported without a password can log in with none until they use their link."""

from portal.core.extensions import db
from portal.core.passwords import check_password, unusable_password_hash
from portal.models import User
from tests.factories import make_user


def imported(email: str) -> User:
    """A person as the import leaves one without a password."""
    person = make_user(email)
    person.password_hash = unusable_password_hash()
    db.session.commit()
    return person


def test_an_account_without_a_usable_password_opens_with_no_password(client):
    imported("anu@example.com")
    for guess in ("", "!", "anything at all"):
        assert not check_password(unusable_password_hash(), guess)
    assert client.post("/login", data={"email": "anu@example.com", "password": "!"}).status_code == 401
