"""The sandbox's settings: the demo institute's identity, as it would be copied from a Testpress dashboard.

Everything here can be overridden with ``SANDBOX_<KEY>`` environment variables or the app
factory's ``test_config``. The portal's demo configuration imports ``DEFAULTS`` so that the
two sides agree without anyone copying secrets by hand.
"""

DEFAULTS = {
    # The institute identity; the portal's demo uses the same values.
    "PUBLIC_KEY": "sandbox-public-key",
    "SECRET": "sandbox-hmac-secret",
    "PRIVATE_KEY": "sandbox-private-key",
    "API_USERNAME": "admin",
    "API_PASSWORD": "sandbox-admin-password",
    "PERCENT_ENCODING": "quote",
    # Where exam webhooks go; empty disables them.
    "WEBHOOK_URL": "http://127.0.0.1:5000/testpress/webhook",
    "WEBHOOK_ATTEMPTS": 5,
    "WEBHOOK_BACKOFF": 1.0,
    "WEBHOOK_TIMEOUT": 5.0,
    # Absolute links in API pages (next, previous, exam_url); empty uses the request's host.
    "BASE_URL": "",
    # An SQLAlchemy URI or a file path; empty means sandbox.sqlite in the instance folder.
    "DATABASE": "",
    # Signed launches and review links live this long, and may be this far in the future.
    "LAUNCH_TTL": 1800,
    "CLOCK_SKEW": 60,
    "TOKEN_TTL": 3600,
    "API_PAGE_SIZE": 200,
    "API_MAX_PAGE_SIZE": 1000,
}
