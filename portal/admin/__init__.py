"""Staff pages: one blueprint, one module per area (dashboard and attempts, exams, people,
Testpress traffic, one attempt's trust).

Every route here is guarded once, by `require_staff`; a test walks the URL map to
prove that no `admin.*` endpoint answers a student.
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


# The areas add their routes to bp when imported.
from portal.admin import (  # noqa: E402,F401
    attempts, audit, batches, exam_import, exams, imports, people, results, testpress, trust)
