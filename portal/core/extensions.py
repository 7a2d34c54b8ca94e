"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so that Alembic migrations can alter and drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
# Keyed per client address unless a limit says otherwise (behind a proxy, set PROXY_COUNT so
# that this is the real client). The counts live where RATELIMIT_STORAGE_URI says: the
# portal's database by default (portal/core/ratelimit.py), Redis where an institute has one.
limiter = Limiter(get_remote_address)


# Testpress's endpoints count what they limit themselves, through the limiter's storage (the
# return per launch and student, the webhook its refused deliveries: a verified delivery is
# never limited), so the limiter's per-request work is skipped for them too.
SELF_LIMITED_ENDPOINTS = frozenset({"testpress_return.receive_return", "testpress_webhook.receive_webhook"})


@limiter.request_filter
def page_views_are_not_limited() -> bool:
    """Only what a form submits is limited (the login's POST; Testpress's endpoints count their
    own), so a page view skips the limiter's work on every request, a twentieth of a page's
    time (bench/README.md). A limit on a GET would need this filter changed."""
    return request.method in ("GET", "HEAD") or request.endpoint in SELF_LIMITED_ENDPOINTS
