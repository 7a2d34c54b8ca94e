"""The student blueprint and its guard: every student page needs a logged-in person."""

from flask import Blueprint

from portal.web.auth import require_login

bp = Blueprint("student", __name__)
bp.before_request(require_login)
