"""The people service: one way to add a person, change a password, (de)activate an account."""

import pytest
import sqlalchemy as sa

from portal.core.extensions import db
from portal.core.passwords import check_password, hash_password
from portal.models import User
from portal.people import accounts as people
from portal.people.accounts import (
    InvalidPerson,
    NoSuchPerson,
    OwnAccount,
    PersonExists,
    create_person,
    deactivate,
    reactivate,
    set_password,
)
from tests.factories import PASSWORD, make_staff, make_user


def people_with(email):
    return db.session.scalars(sa.select(User).where(User.email == email)).all()


def test_a_new_person_is_stored_as_they_will_log_in(app, client, auth):
    create_person("  Meera@Example.COM ", "  Meera Iyer ", "meera-pass-1", by=None)
    db.session.commit()

    [meera] = people_with("meera@example.com")
    assert (meera.name, meera.is_staff, meera.active) == ("Meera Iyer", False, True)
    assert check_password(meera.password_hash, "meera-pass-1") and "meera-pass-1" not in meera.password_hash
    # The login form finds her however she types her email.
    response = auth.login("MEERA@example.com ", "meera-pass-1")
    assert response.headers["Location"] == "/"


def test_a_staff_member_is_staff(app):
    create_person("boss@example.com", "Boss", "long enough", staff=True, by=None)
    db.session.commit()
    assert people_with("boss@example.com")[0].is_staff is True


def test_a_taken_email_is_refused_whatever_its_case(app):
    make_user("asha@example.com", "Asha")
    with pytest.raises(PersonExists) as refusal:
        create_person(" ASHA@example.com", "Another Asha", "long enough", by=None)
    assert refusal.value.field == "email"
    assert str(refusal.value) == "a user with email asha@example.com already exists"
    db.session.commit()
    assert [user.name for user in people_with("asha@example.com")] == ["Asha"]


@pytest.mark.parametrize("email, name, password, field, complaint", [
    ("not-an-email", "A", "long enough", "email", "@-sign"),
    ("a@example.com", "   ", "long enough", "name", "must be 1 to 120 characters"),
    ("a@example.com", "x" * 121, "long enough", "name", "must be 1 to 120 characters"),
    ("a@example.com", "A", "short", "password", "must be at least 8 characters"),
])
def test_bad_values_are_refused_at_their_field_and_store_nothing(app, email, name, password, field, complaint):
    with pytest.raises(InvalidPerson) as refusal:
        create_person(email, name, password, by=None)
    assert refusal.value.field == field
    assert complaint in str(refusal.value)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def add_a_rival_while_hashing(monkeypatch, email):
    """Make another request add `email` between the service's check and its insert."""

    def hash_while_a_rival_commits(password):
        with db.engine.begin() as connection:
            connection.execute(sa.insert(User).values(email=email, name="Rival", password_hash="x"))
        return hash_password(password)

    monkeypatch.setattr(people, "hash_password", hash_while_a_rival_commits)


def test_the_database_has_the_last_word_on_a_taken_email(app, monkeypatch):
    add_a_rival_while_hashing(monkeypatch, "ravi@example.com")
    with pytest.raises(PersonExists):
        create_person("ravi@example.com", "Ravi", "long enough", by=None)
    db.session.commit()  # the session is usable again
    assert [user.name for user in people_with("ravi@example.com")] == ["Rival"]


def test_the_add_person_page_shows_the_database_refusal_as_a_form_error(app, client, auth, monkeypatch):
    make_staff("boss@example.com")
    auth.login("boss@example.com")
    add_a_rival_while_hashing(monkeypatch, "ravi@example.com")

    response = client.post("/admin/people/new", data={"name": "Ravi", "email": "ravi@example.com",
                                                      "password": "long enough"})

    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert [user.name for user in people_with("ravi@example.com")] == ["Rival"]


# These make their requests with no app context pushed, as tests/web/test_auth.py explains: a
# pushed one would share Flask-Login's cached user between the test's "browsers".


def test_a_new_password_works_the_old_does_not_and_sessions_end(make_app):
    app = make_app()
    with app.app_context():
        make_user("asha@example.com")
    browser = app.test_client()
    assert browser.post("/login", data={"email": "asha@example.com", "password": PASSWORD}).status_code == 302

    with app.app_context():
        set_password(" Asha@Example.com", "brand new password")
        db.session.commit()

    assert browser.get("/exams/").headers["Location"].startswith("/login")  # her open session has ended
    login = {"email": "asha@example.com"}
    assert app.test_client().post("/login", data={**login, "password": PASSWORD}).status_code == 401
    assert app.test_client().post("/login", data={**login, "password": "brand new password"}).status_code == 302


def test_set_password_refuses_an_unknown_email_and_a_short_password(app):
    asha = make_user("asha@example.com")
    with pytest.raises(NoSuchPerson, match="nobody has the email nobody@example.com"):
        set_password("Nobody@example.com", "long enough")
    with pytest.raises(InvalidPerson) as refusal:
        set_password("asha@example.com", "short")
    assert refusal.value.field == "password"
    db.session.commit()
    db.session.expire_all()
    assert check_password(db.session.get(User, asha.id).password_hash, PASSWORD)
    assert db.session.get(User, asha.id).session_version == 1


def test_a_deactivated_person_is_logged_out_and_cannot_log_in_until_reactivated(make_app):
    app = make_app()
    with app.app_context():
        staff_id, asha_id = make_staff("boss@example.com").id, make_user("asha@example.com").id
    login = {"email": "asha@example.com", "password": PASSWORD}
    browser = app.test_client()
    assert browser.post("/login", data=login).status_code == 302

    with app.app_context():
        deactivate(db.session.get(User, asha_id), by=db.session.get(User, staff_id))
        db.session.commit()
    assert browser.get("/exams/").headers["Location"].startswith("/login")
    assert app.test_client().post("/login", data=login).status_code == 401

    with app.app_context():
        reactivate(db.session.get(User, asha_id), by=db.session.get(User, staff_id))
        db.session.commit()
    assert browser.post("/login", data=login).status_code == 302
    assert browser.get("/exams/").status_code == 200


def test_nobody_deactivates_themselves(app):
    staff = make_staff("boss@example.com")
    with pytest.raises(OwnAccount, match="You cannot deactivate your own account."):
        deactivate(staff, by=staff)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, staff.id).active is True
