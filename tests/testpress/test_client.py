"""The Admin API client against a live sandbox: paging, retries, throttling, token expiry, failures."""

from __future__ import annotations

import logging
import socket

import pytest
import requests

from portal.testpress.client import TestpressBusy, TestpressClient, TestpressError
from testpress_sandbox.config import DEFAULTS

USERNAME, PASSWORD = DEFAULTS["API_USERNAME"], DEFAULTS["API_PASSWORD"]


class RecordingSleep:
    """Stands in for time.sleep: remembers each wait instead of waiting."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class CountingSession(requests.Session):
    """A requests session that remembers the path of every request sent."""

    def __init__(self):
        super().__init__()
        self.paths: list[str] = []

    def request(self, method, url, *args, **kwargs):
        self.paths.append(f"{method} {requests.utils.urlparse(url).path}")
        return super().request(method, url, *args, **kwargs)


def make_client(url: str, **options) -> TestpressClient:
    options.setdefault("sleep", RecordingSleep())
    options.setdefault("backoff", 0.01)
    options.setdefault("timeout", 5)
    return TestpressClient(url, USERNAME, options.pop("password", PASSWORD), **options)


def attempt_ids(client: TestpressClient, **filters) -> list[int]:
    return [attempt["id"] for page in client.iter_attempts(**filters) for attempt in page.results]


def test_pages_are_followed_to_the_end(live_sandbox):
    live_sandbox.seed(25)
    client = make_client(live_sandbox.url)

    pages = list(client.iter_attempts(page_size=10, ordering="date"))

    assert [len(page.results) for page in pages] == [10, 10, 5]
    assert {page.count for page in pages} == {25}
    ids = [attempt["id"] for page in pages for attempt in page.results]
    assert sorted(ids) == list(range(1, 26))
    dates = [attempt["date"] for page in pages for attempt in page.results]
    assert dates == sorted(dates)


def test_filters_reach_testpress(live_sandbox):
    live_sandbox.seed(12)
    client = make_client(live_sandbox.url)

    exams = {attempt["exam_id"] for page in client.iter_attempts(exams=2) for attempt in page.results}

    assert exams == {2}


def test_next_links_are_followed_on_our_own_base_url(live_sandbox):
    # A proxy in front of Testpress may write another host into its links: never send the token there.
    live_sandbox.app.config["BASE_URL"] = "https://elsewhere.invalid"
    live_sandbox.seed(5)
    session = CountingSession()

    ids = attempt_ids(make_client(live_sandbox.url, session=session), page_size=2)

    assert len(ids) == 5
    assert session.paths.count("GET /api/v2.5/admin/attempts/") == 3


def test_exams_and_users(live_sandbox):
    client = make_client(live_sandbox.url)

    exams = client.list_exams()

    assert [exam["id"] for exam in exams] == [1, 2, 3]
    assert client.find_user("ADMIN@sandbox.testpress.local")["username"] == USERNAME
    assert client.find_user("nobody@example.com") is None


def test_bad_credentials_fail_with_one_clear_error(live_sandbox):
    client = make_client(live_sandbox.url, password="not-the-password")

    with pytest.raises(TestpressError) as failure:
        attempt_ids(client)

    assert "refused the API credentials" in str(failure.value)
    assert "not-the-password" not in str(failure.value)


def test_server_errors_are_retried_with_exponential_backoff(live_sandbox):
    live_sandbox.seed(3)
    live_sandbox.set_faults(api_fail_next=3)
    sleep = RecordingSleep()

    ids = attempt_ids(make_client(live_sandbox.url, sleep=sleep, backoff=0.01))

    assert len(ids) == 3
    assert sleep.waits == [0.01, 0.02, 0.04]


def test_server_errors_past_the_retry_budget_fail_clearly(live_sandbox):
    live_sandbox.set_faults(api_fail_next=10)
    client = make_client(live_sandbox.url, max_retries=2)

    with pytest.raises(TestpressError) as failure:
        attempt_ids(client)

    message = str(failure.value)
    assert "500" in message and "gave up after 3 tries" in message
    assert "/api/v2.5/" in message


def test_throttling_waits_as_long_as_retry_after_asks(live_sandbox):
    live_sandbox.seed(2)
    live_sandbox.set_faults(api_throttle_next=2, api_retry_after=3)
    sleep = RecordingSleep()

    ids = attempt_ids(make_client(live_sandbox.url, sleep=sleep))

    assert len(ids) == 2
    assert sleep.waits == [3.0, 3.0]


def test_a_huge_retry_after_is_capped_and_counts_against_the_budget(live_sandbox):
    live_sandbox.set_faults(api_throttle_next=5, api_retry_after=3600)
    sleep = RecordingSleep()
    client = make_client(live_sandbox.url, sleep=sleep, max_retries=2, max_retry_after=60)

    with pytest.raises(TestpressError, match="429"):
        attempt_ids(client)

    assert sleep.waits == [60.0, 60.0]


def test_an_expired_token_is_renewed_once_and_the_call_repeated(live_sandbox):
    live_sandbox.seed(6)
    session = CountingSession()
    client = make_client(live_sandbox.url, session=session)
    pages = client.iter_attempts(page_size=3)

    first = next(pages)
    live_sandbox.set_faults(expire_tokens=True)
    rest = list(pages)

    assert len(first.results) + sum(len(page.results) for page in rest) == 6
    assert session.paths.count("POST /api/v2.5/auth-token/") == 2


def test_a_token_refused_again_after_a_fresh_login_is_an_error(live_sandbox):
    live_sandbox.app.config["TOKEN_TTL"] = -1  # every token is already expired
    client = make_client(live_sandbox.url)

    with pytest.raises(TestpressError, match="refused the API credentials"):
        attempt_ids(client)


def test_an_unreachable_testpress_is_retried_then_reported(live_sandbox):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    sleep = RecordingSleep()
    client = make_client(f"http://127.0.0.1:{port}", sleep=sleep, max_retries=2)

    with pytest.raises(TestpressError) as failure:
        client.list_exams()

    assert "could not connect to 127.0.0.1" in str(failure.value)
    assert len(sleep.waits) == 2


def test_a_slow_testpress_times_out(live_sandbox):
    live_sandbox.set_faults(api_delay=0.5)
    client = make_client(live_sandbox.url, timeout=0.1, max_retries=1)

    with pytest.raises(TestpressError, match="timed out after 0.1s"):
        client.list_exams()


def test_missing_settings_are_reported_before_any_call():
    with pytest.raises(TestpressError, match="TESTPRESS_BASE_URL"):
        TestpressClient("", USERNAME, PASSWORD)
    with pytest.raises(TestpressError, match="TESTPRESS_API_USERNAME"):
        TestpressClient("https://testpress.example", USERNAME, "")


def test_neither_token_nor_password_is_ever_logged(live_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    live_sandbox.seed(4)
    live_sandbox.set_faults(api_fail_next=1)
    client = make_client(live_sandbox.url)
    pages = client.iter_attempts(page_size=2)
    next(pages)
    live_sandbox.set_faults(expire_tokens=True, api_throttle_next=1, api_retry_after=0)
    list(pages)

    assert "retrying" in caplog.text
    assert PASSWORD not in caplog.text
    assert client._token and client._token not in caplog.text
    assert PASSWORD not in repr(client)


# -- a staff member's request: one try each, within a budget --------------------------------


def test_a_client_with_a_budget_answers_a_429_at_once_with_what_testpress_asked(live_sandbox):
    live_sandbox.set_faults(api_throttle_next=5, api_retry_after=45)
    sleep = RecordingSleep()
    client = make_client(live_sandbox.url, sleep=sleep, max_retries=0, budget=10)

    with pytest.raises(TestpressBusy) as busy:
        attempt_ids(client)

    assert busy.value.retry_after == 45
    assert sleep.waits == []  # nothing waited out inside the staff member's request


def test_a_client_with_a_budget_tries_a_failing_call_once(live_sandbox):
    live_sandbox.set_faults(api_fail_next=5)
    session, sleep = CountingSession(), RecordingSleep()
    client = make_client(live_sandbox.url, session=session, sleep=sleep, max_retries=0, budget=10)

    with pytest.raises(TestpressError, match="gave up after 1 tries"):
        attempt_ids(client)

    assert sleep.waits == [] and len(session.paths) <= 2  # the login, and one try of the call


def test_a_spent_budget_sends_nothing_more(live_sandbox):
    live_sandbox.seed(6)
    now = [0.0]
    session = CountingSession()
    client = make_client(live_sandbox.url, session=session, max_retries=0, budget=10, timeout=5,
                         clock=lambda: now[0])
    pages = client.iter_attempts(page_size=3)
    next(pages)
    now[0] = 10.5  # the calls so far took all of it

    with pytest.raises(TestpressError, match="10s allowed for asking Testpress had run out"):
        next(pages)
    assert len(session.paths) == 2  # the login and the first page; the second was never sent


def test_interactive_clients_are_built_to_answer_inside_a_page(app):
    from portal.testpress.client import INTERACTIVE_BUDGET
    from portal.testpress.settings import testpress_settings

    client = TestpressClient.interactive(testpress_settings())
    # gunicorn kills a worker after 30 s; the budget bounds every call of the request together.
    assert (client.max_retries, client.budget) == (0, INTERACTIVE_BUDGET) and INTERACTIVE_BUDGET <= 10
