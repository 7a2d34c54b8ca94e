"""Login throttling counted in the shared database: across app instances, per account and address."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.core.clock import utcnow
from portal.core.database import create_database_file
from portal.core.extensions import db
from portal.core.ratelimit import DatabaseStorage
from portal.models import RateLimitCounter
from tests.conftest import TEST_SETTINGS
from tests.factories import PASSWORD, make_user


def attempt(client, email, password="wrong guess", address="203.0.113.7"):
    return client.post("/login", data={"email": email, "password": password},
                       environ_overrides={"REMOTE_ADDR": address})


@pytest.fixture
def two_instances(make_app):
    """Two app instances on one database file, as two gunicorn workers or two servers are."""
    # A low limit: each guess below it costs an argon2 verification.
    first = make_app(LOGIN_ACCOUNT_RATE_LIMIT="5 per 15 minutes")
    second = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": first.config["SQLALCHEMY_DATABASE_URI"],
                         "LOGIN_ACCOUNT_RATE_LIMIT": "5 per 15 minutes"})
    with first.app_context():
        make_user("asha@example.com")
        make_user("ravi@example.com")
    return first, second


def test_guesses_spread_over_two_instances_share_one_count(two_instances):
    first, second = two_instances
    clients = [first.test_client(), second.test_client()]
    statuses = [attempt(clients[n % 2], "asha@example.com").status_code for n in range(100)]

    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 95
    # The guesser's address has been failing for this account: even the right password waits there.
    assert attempt(clients[0], "asha@example.com", PASSWORD).status_code == 429
    with first.app_context():  # a refused guess checks nothing, so it counts nothing
        assert db.session.scalar(sa.select(RateLimitCounter.hits).where(
            RateLimitCounter.key.contains("/account:asha@example.com/5/"))) == 5


def test_a_classmates_guesses_do_not_lock_the_owner_out(two_instances):
    first, second = two_instances
    for _ in range(8):
        attempt(first.test_client(), "asha@example.com", address="203.0.113.66")
    assert attempt(first.test_client(), "asha@example.com", PASSWORD, address="203.0.113.66").status_code == 429

    # The owner, from an address that has not been failing, gets in with the right password...
    assert attempt(second.test_client(), "asha@example.com", PASSWORD, address="198.51.100.5").status_code == 302
    # ...but a wrong one there makes that address a failing one too: the limit still holds.
    assert attempt(second.test_client(), "asha@example.com", address="198.51.100.9").status_code == 401
    assert attempt(second.test_client(), "asha@example.com", PASSWORD, address="198.51.100.9").status_code == 429


def test_right_passwords_count_nothing(two_instances):
    first, _ = two_instances
    for _ in range(12):
        assert attempt(first.test_client(), "asha@example.com", PASSWORD).status_code == 302
    assert attempt(first.test_client(), "asha@example.com").status_code == 401


def test_another_student_from_another_address_is_not_locked_out(two_instances):
    first, second = two_instances
    for n in range(8):
        attempt((first if n % 2 else second).test_client(), "asha@example.com")
    assert attempt(first.test_client(), "asha@example.com").status_code == 429

    response = attempt(second.test_client(), "ravi@example.com", PASSWORD, address="198.51.100.20")
    assert response.status_code == 302


def test_another_student_behind_the_same_classroom_address_is_not_locked_out(two_instances):
    first, _ = two_instances
    client = first.test_client()
    for _ in range(6):
        attempt(client, "asha@example.com")
    assert attempt(client, "asha@example.com").status_code == 429

    assert attempt(client, "ravi@example.com", PASSWORD).status_code == 302


def test_the_account_limit_ignores_case_and_spaces_in_the_email(two_instances):
    first, _ = two_instances
    client = first.test_client()
    for n in range(5):
        attempt(client, "asha@example.com" if n % 2 else "  ASHA@Example.com ")
    assert attempt(client, "Asha@example.com").status_code == 429


def test_one_address_guessing_many_accounts_is_stopped(make_app):
    app = make_app(LOGIN_ADDRESS_RATE_LIMIT="3 per 15 minutes")
    client = app.test_client()
    statuses = [attempt(client, f"student{n}@example.com").status_code for n in range(5)]
    assert statuses == [401] * 3 + [429] * 2
    assert attempt(client, "student9@example.com", address="198.51.100.20").status_code == 401


def test_the_429_page_says_when_to_try_again(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    client = app.test_client()
    attempt(client, "asha@example.com")
    attempt(client, "asha@example.com")
    response = attempt(client, "asha@example.com")

    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 14 * 60 < wait <= 15 * 60 + 1
    page = response.get_data(as_text=True)
    assert "Too many login attempts for this account" in page
    assert "Please try again in 15 minutes" in page


def test_a_new_window_starts_when_the_last_one_ends(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    client = app.test_client()
    for _ in range(3):
        attempt(client, "asha@example.com")
    assert attempt(client, "asha@example.com").status_code == 429
    with app.app_context():  # the window ends: as if 15 minutes had passed
        db.session.execute(sa.update(RateLimitCounter).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert attempt(client, "asha@example.com").status_code == 401


def test_an_app_on_another_database_keeps_its_own_count(make_app, tmp_path):
    """The limiter is one object per process: its counts must still follow each app's database."""
    first = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    for _ in range(3):
        attempt(first.test_client(), "asha@example.com")
    other = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/other.sqlite",
                        "LOGIN_ACCOUNT_RATE_LIMIT": "2 per 15 minutes"})
    with other.app_context():
        create_database_file()  # the app opens an existing file only
        db.create_all()

    assert attempt(other.test_client(), "asha@example.com").status_code == 401
    assert attempt(first.test_client(), "asha@example.com").status_code == 429


def test_concurrent_guesses_are_all_counted(make_app):
    """Threads on two instances, as workers are: no increment is lost to a race."""
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="1000 per 15 minutes")
    other = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    counter = DatabaseStorage("portal+sqlalchemy://")
    errors = []

    def hammer(instance):
        try:
            with instance.app_context():
                for _ in range(25):
                    counter.incr("test:shared", 60)
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(instance,)) for instance in (app, other, app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        assert counter.get("test:shared") == 100


def test_the_storage_setting_is_honoured(make_app):
    """RATELIMIT_STORAGE_URI chooses the store (Redis in production; memory here, which needs no server)."""
    app = make_app(RATELIMIT_STORAGE_URI="memory://", LOGIN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    client = app.test_client()
    statuses = [attempt(client, "asha@example.com").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RateLimitCounter)) == 0
