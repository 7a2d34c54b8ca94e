"""The staff blueprint and its one guard. Every route of portal.web.admin is added to `bp`
here; a test walks the URL map to prove that no `admin.*` endpoint answers a student.
"""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_staff():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_staff:
        abort(403)
