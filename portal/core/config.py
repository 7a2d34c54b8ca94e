"""Default settings, and the check that production settings are complete.

Every key can be overridden by `instance/config.py` or by an environment variable
`PORTAL_<KEY>` (see `create_app`). CONTRACT.md lists what each Testpress key means.
"""

from datetime import timedelta

import click


class Defaults:
    SECRET_KEY = None  # required outside testing and the demo: see require_secret_key
    SQLALCHEMY_DATABASE_URI = None  # None means the SQLite file in the instance folder
    # Seconds a writer waits for another writer's lock before the request answers 503.
    DATABASE_BUSY_TIMEOUT = 10
    DEMO = False
    # The institute's time zone (an IANA name): times are stored in UTC and shown and
    # entered in this zone, which every page names. An institute in India sets "Asia/Kolkata".
    TIMEZONE = "UTC"
    LOGGING = None  # a logging.config.dictConfig dict; None: portal.core.logs.default_logging(), to stderr
    # The bearer token /metrics asks of Prometheus (portal.core.metrics); None: /metrics is a 404.
    METRICS_TOKEN = None

    TESTPRESS_BASE_URL = ""
    TESTPRESS_PUBLIC_KEY = ""
    TESTPRESS_SECRET = ""
    TESTPRESS_PRIVATE_KEY = ""  # empty means: the same as TESTPRESS_SECRET
    TESTPRESS_API_USERNAME = ""
    TESTPRESS_API_PASSWORD = ""
    TESTPRESS_PERCENT_ENCODING = "quote"
    TESTPRESS_WEBHOOK_ALGORITHMS = "sha512,sha256"
    TESTPRESS_LAUNCH_TTL = 1800
    TESTPRESS_TIMEOUT = 10  # seconds for every Admin API call
    # Seconds a score only the browser reported may wait for Testpress's word: past it the
    # dashboard lists it, and once a sync covering its start finds nothing it is flagged,
    # "Testpress has no record of this attempt". (It counts nowhere meanwhile.)
    TESTPRESS_CONFIRMATION_GRACE = 2 * 3600

    # Cookies: the browser return is a cross-site POST, so Lax (not Strict) keeps the
    # student logged in on the same-origin GET that follows it.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_DURATION = timedelta(days=7)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Strict-Transport-Security on HTTPS responses: browsers then refuse plain HTTP to this
    # host for this many seconds. 0 sends none.
    HSTS_MAX_AGE = 365 * 24 * 3600

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = 1024 * 1024
    # The people import's upload may be larger than any other request (see portal.web.admin.people_import).
    IMPORT_MAX_BYTES = 2 * 1024 * 1024
    # Rows carrying a password one import may hash (see portal.core.passwords); others get links.
    # 200 x about 100 ms a hash on one busy core stays within gunicorn's 30 s timeout.
    IMPORT_MAX_PASSWORDS = 200
    ATTEMPTS_PER_PAGE = 20
    # Password guessing (see README, Deploying): wrong passwords, at the login and on the
    # account page, count against both; right ones count nothing. Per account, keyed by the
    # email: one student's guesses never slow another, and once past it, an address that has
    # not been failing for the account may still log in (a classmate cannot lock its owner out).
    LOGIN_ACCOUNT_RATE_LIMIT = "10 per 15 minutes"
    # Per client address, high enough for a classroom of 100 behind one NAT, each with a
    # couple of typos, yet far below what a password-guessing script needs.
    LOGIN_ADDRESS_RATE_LIMIT = "300 per 15 minutes"
    # Where the counts live: the portal's database (shared by every worker and server that
    # uses it), or e.g. "redis://redis.internal:6379/0" (needs `pip install redis`).
    RATELIMIT_STORAGE_URI = "portal+sqlalchemy://"
    # Said explicitly: the limiter is one object per process and keeps the last app's value,
    # so an app that never says would inherit another's (tests build many apps).
    RATELIMIT_ENABLED = True
    # Browser returns recorded per launch and per student (a return is sent once; the busy
    # page's press and the back button may send it again). Past either, the return waits on a
    # page that keeps its fields for one more press: a student replaying returns cannot take
    # the recording lock from everyone else. In the same storage, shared by every server.
    RETURN_LAUNCH_RATE_LIMIT = "10 per 10 minutes"
    RETURN_STUDENT_RATE_LIMIT = "30 per 10 minutes"
    # Refused webhook deliveries per client address, before it gets 429 (verified ones are never limited).
    WEBHOOK_REFUSAL_RATE_LIMIT = "30 per minute"
    WEBHOOK_REFUSED_LOG_SIZE = 500  # refused deliveries kept for staff; older ones are deleted

    # The name messages are signed with and their subjects begin with.
    INSTITUTE_NAME = "Exam portal"
    # Email over SMTP, named as Flask's mail extensions name them. Without MAIL_SERVER nothing is
    # queued or sent: the pages offer the links to copy, as before (portal.mail.outbox).
    MAIL_SERVER = ""
    MAIL_PORT = 25
    MAIL_USE_TLS = False  # STARTTLS after connecting (port 587)
    MAIL_USE_SSL = False  # TLS from the start (port 465)
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_DEFAULT_SENDER = ""  # "Institute <portal@institute.edu>"; required with MAIL_SERVER
    MAIL_TIMEOUT = 30  # seconds for each exchange with the server
    # Seconds a message keeps being retried (backing off) before it is given up as a failure
    # staff see and may retry: a day, as long as the sign-in link it may carry works.
    MAIL_GIVE_UP_AFTER = 24 * 3600
    # "Your result is confirmed" and "your score changed" to students, by email (with MAIL_SERVER).
    STUDENT_RESULT_EMAILS = False
    # The daily email to staff of what needs attention (only on a day with something).
    STAFF_DIGEST = True
    # The worker (portal.jobs): seconds between Testpress syncs, and between looks at the outbox.
    SYNC_INTERVAL = 300
    OUTBOX_INTERVAL = 10


class MissingSecretKey(click.ClickException):
    """Raised at start-up when a production app has no SECRET_KEY.

    A ClickException, so that `flask --app portal ...` prints its one line, not a traceback.
    """


def require_secret_key(config) -> None:
    """Refuse to run a real deployment with a missing or throwaway session key."""
    if config.get("TESTING") or config.get("DEMO"):
        return
    key = config.get("SECRET_KEY")
    if not key or len(str(key)) < 16:
        raise MissingSecretKey(
            "SECRET_KEY is not set: export PORTAL_SECRET_KEY=<long random string> "
            "(for example `python -c 'import secrets; print(secrets.token_hex(32))'`) "
            "or set SECRET_KEY in instance/config.py."
        )
