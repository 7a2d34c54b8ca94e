"""The staff blueprint and its one guard. Every route of portal.web.admin is added to `bp`
here; a test walks the URL map to prove that no `admin.*` endpoint answers a student.
"""

from flask import Blueprint, abort
from flask_login import current_user

from portal.web.auth import require_login

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_staff():
    """Logged in (else the login page, as every guard: web.auth.require_login), and staff (else 403)."""
    if refused := require_login():
        return refused
    if not current_user.is_staff:
        abort(403)
    return None
