"""The one way the portal talks to Testpress's Admin API (v2.5).

Every call has a timeout. A 401 logs in again once; a 429 waits as long as Retry-After asks
(capped); a 5xx, a timeout or a refused connection is retried with exponential backoff; and
whatever still fails becomes one `TestpressError` whose message names the request and what
went wrong, never the token or the password.

A staff member's request that asks Testpress (`TestpressClient.interactive`) cannot wait
like that: gunicorn kills a worker after 30 s. Its client tries each call once, all of them
within a budget of seconds, and answers a 429 at once with `TestpressBusy`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from portal.testpress.settings import TestpressSettings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2.5"
TOKEN_PATH = f"{API_PREFIX}/auth-token/"
ATTEMPTS_PATH = f"{API_PREFIX}/admin/attempts/"
EXAMS_PATH = f"{API_PREFIX}/admin/exams/"
USERS_PATH = f"{API_PREFIX}/admin/users/"
REFUSED_CREDENTIALS = "Testpress refused the API credentials"
# Seconds before the first retry, doubling after each; tests make it tiny.
RETRY_BACKOFF = 0.5
MAX_RETRIES = 4
# Seconds a staff member's page may spend on Testpress, every call of it together.
INTERACTIVE_BUDGET = 10.0


# A stored failure line (TestpressError's, or a sync's) in the words staff read: what failed, never
# how. The line itself stays on the run's page, for whoever looks into it.
PLAIN_FAILURES = [
    ("could not connect", "The portal could not reach Testpress: Testpress is down, or its address is wrong."),
    ("timed out", "Testpress did not answer in time."),
    (REFUSED_CREDENTIALS, "Testpress refused the portal's Admin API login: check its username and password."),
    ("answered 429", "Testpress was busy and asked the portal to wait."),
    ("is not set", "The portal's Testpress settings are incomplete."),
    ("must both be set", "The portal's Testpress settings are incomplete."),
    ("stopped without finishing", "The sync stopped before it finished: the server running it restarted or stopped."),
    ("the database refused", "The portal could not save what Testpress sent."),
    ("answered 5", "Testpress had a problem of its own and could not answer."),
    ("Testpress answered", "Testpress answered something the portal could not read."),
]


def plain_failure(line: str | None) -> str:
    """What failed, in plain words, for a failure line this module or the sync wrote."""
    for words, plain in PLAIN_FAILURES:
        if words in (line or ""):
            return plain
    return "The sync failed."


class TestpressError(Exception):
    """Testpress could not be reached, refused us, or answered something unusable."""

    __test__ = False  # not a pytest test class, despite its name


class TestpressBusy(TestpressError):
    """Testpress answered 429 to a client that does not wait; `retry_after` is the seconds it
    asked for (None when it did not say in seconds)."""

    def __init__(self, message: str, retry_after: int | None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint: its items and the total the endpoint reported."""

    count: int
    results: list[dict]


class TestpressClient:
    """A session with the Admin API, logging in on first use."""

    __test__ = False

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        max_retries: int = MAX_RETRIES,
        backoff: float | None = None,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not base_url:
            raise TestpressError("TESTPRESS_BASE_URL is not set")
        if not username or not password:
            raise TestpressError("TESTPRESS_API_USERNAME and TESTPRESS_API_PASSWORD must both be set")
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = RETRY_BACKOFF if backoff is None else backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep  # tests pass a recorder, so a backoff costs them no time
        # With a budget, every call together must end within it, counted from the first, and
        # a 429 is answered at once (TestpressBusy) rather than waited out.
        self.budget = budget
        self._clock = clock
        self._deadline: float | None = None
        self._session = session or requests.Session()
        self._session.headers.setdefault("Accept", "application/json")
        self._token: str | None = None
        # The sync fetches the next page in a thread while it may look up users in its own:
        # one request at a time keeps the session and the token refresh simple.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: TestpressSettings, **options) -> TestpressClient:
        return cls(settings.base_url, settings.api_username, settings.api_password, timeout=settings.timeout, **options)

    @classmethod
    def interactive(cls, settings: TestpressSettings, budget: float = INTERACTIVE_BUDGET) -> TestpressClient:
        """A client for a staff member's request: each call tried once, all within `budget`
        seconds, no 429 waited out, so the page answers well inside gunicorn's timeout."""
        return cls.from_settings(settings, max_retries=0, budget=budget)

    def __repr__(self) -> str:  # never the password or the token
        return f"<TestpressClient {self.base_url} as {self._username}>"

    # -- endpoints ---------------------------------------------------------------------

    def log_in(self) -> requests.Response:
        """Log in afresh and answer Testpress's response (the integration check reads its Date)."""
        with self._lock:
            return self._log_in()

    def iter_attempts(self, *, page_size: int = 1000, **filters) -> Iterator[Page]:
        """Pages of attempts, following `next` to the end. Filters as the API names them:
        state, date_0, date_1, users, exams, ordering."""
        params = {name: value for name, value in filters.items() if value is not None}
        return self._iter_pages(ATTEMPTS_PATH, {**params, "page_size": page_size})

    def exams_page(self, page: int = 1, *, page_size: int = 25) -> Page:
        """One page of the exams list (DRF's `page`, from 1); a page past the end is a TestpressError (404)."""
        return next(self._iter_pages(EXAMS_PATH, {"page": page, "page_size": page_size}))

    def list_exams(self) -> list[dict]:
        return [exam for page in self._iter_pages(EXAMS_PATH, {"page_size": 1000}) for exam in page.results]

    def iter_users(self) -> Iterator[dict]:
        for page in self._iter_pages(USERS_PATH, {"page_size": 1000}):
            yield from page.results

    def find_user(self, email: str) -> dict | None:
        """The Testpress user with this email (case-insensitive), or None."""
        page = self._get_json(USERS_PATH, {"email": email})
        wanted = email.strip().lower()
        return next((user for user in page.get("results", []) if str(user.get("email", "")).lower() == wanted), None)

    # -- paging ------------------------------------------------------------------------

    def _iter_pages(self, path: str, params: dict | None) -> Iterator[Page]:
        while path:
            body = self._get_json(path, params)
            results = body.get("results")
            if not isinstance(results, list):
                raise TestpressError(f"Testpress answered GET {path} without a list of results")
            yield Page(count=int(body.get("count") or 0), results=results)
            path, params = self._next_page(body.get("next")), None

    def _next_page(self, link: str | None) -> str | None:
        """The path and query of `next`, to be asked of our own base URL.

        Only the path is taken, so the token is never sent to another host, whatever a
        proxy in front of Testpress writes into its links.
        """
        if not link:
            return None
        parts = urlsplit(link)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- requests ----------------------------------------------------------------------

    def _get_json(self, path: str, params: dict | None = None) -> dict:
        with self._lock:
            return self._get_json_unlocked(path, params)

    def _get_json_unlocked(self, path: str, params: dict | None) -> dict:
        if self._token is None:
            self._log_in()
        response = self._send("GET", path, params=params)
        if response.status_code == 401:
            # The token expired (or was revoked) since we logged in: one fresh login, one retry.
            log.info("Testpress: GET %s answered 401; logging in again", _path_only(path))
            self._log_in()
            response = self._send("GET", path, params=params)
            if response.status_code == 401:
                raise TestpressError(f"{REFUSED_CREDENTIALS} (GET {_path_only(path)} answered 401)")
        return self._json(response, "GET", path)

    def _log_in(self) -> requests.Response:
        response = self._send(
            "POST", TOKEN_PATH, json={"username": self._username, "password": self._password}, authenticate=False
        )
        if response.status_code in (400, 401, 403):
            raise TestpressError(f"{REFUSED_CREDENTIALS} (POST {TOKEN_PATH} answered {response.status_code})")
        token = self._json(response, "POST", TOKEN_PATH).get("token")
        if not isinstance(token, str) or not token:
            raise TestpressError(f"Testpress answered POST {TOKEN_PATH} without a token")
        self._token = token
        return response

    def _send(self, method: str, path: str, *, authenticate: bool = True, **kwargs) -> requests.Response:
        """One request with its retries; answers any response that is not worth retrying."""
        url = self.base_url + path
        headers = {"Authorization": f"JWT {self._token}"} if authenticate else {}
        where = f"{method} {_path_only(path)}"
        for retry in range(self.max_retries + 1):
            timeout = self._timeout(where)
            try:
                response = self._session.request(method, url, headers=headers, timeout=timeout, **kwargs)
            except requests.Timeout:
                problem, wait = f"timed out after {timeout:g}s", self._backoff(retry)
            except requests.RequestException as error:
                host = urlsplit(self.base_url).netloc
                problem, wait = f"could not connect to {host} ({type(error).__name__})", self._backoff(retry)
            else:
                if response.status_code == 429:
                    if self.budget is not None:
                        asked = self._asked_seconds(response)
                        raise TestpressBusy(f"Testpress {where} answered 429 (busy)",
                                            None if asked is None else math.ceil(asked))
                    problem, wait = "answered 429 (throttled)", self._retry_after(response, retry)
                elif response.status_code >= 500:
                    problem, wait = f"answered {response.status_code}", self._backoff(retry)
                else:
                    return response
            if retry == self.max_retries:
                raise TestpressError(f"Testpress {where} {problem}; gave up after {retry + 1} tries")
            log.warning("Testpress: %s %s; retrying in %.2fs", where, problem, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _timeout(self, where: str) -> float:
        """This request's timeout: the client's, or what is left of its budget if less."""
        if self.budget is None:
            return self.timeout
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self.budget
        left = self._deadline - now
        if left <= 0:
            raise TestpressError(f"Testpress {where} not sent: the {self.budget:g}s allowed for asking Testpress "
                                 "had run out")
        # requests' timeout bounds the connection and each wait for data, not their sum: close enough.
        return min(self.timeout, left)

    def _backoff(self, retry: int) -> float:
        return self.backoff * 2**retry

    @staticmethod
    def _asked_seconds(response: requests.Response) -> float | None:
        try:
            asked = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return None  # an HTTP date or nothing at all
        return max(asked, 0.0) if math.isfinite(asked) else None

    def _retry_after(self, response: requests.Response, retry: int) -> float:
        asked = self._asked_seconds(response)
        # Not said in seconds: fall back on our own backoff.
        return self._backoff(retry) if asked is None else min(asked, self.max_retry_after)

    def _json(self, response: requests.Response, method: str, path: str) -> dict:
        where = f"{method} {_path_only(path)}"
        if not response.ok:
            raise TestpressError(f"Testpress {where} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise TestpressError(f"Testpress {where} answered something other than JSON") from None
        if not isinstance(body, dict):
            raise TestpressError(f"Testpress {where} answered JSON that is not an object")
        return body


def _path_only(path: str) -> str:
    """A request's path without its query, for messages and logs."""
    return path.split("?", 1)[0]
