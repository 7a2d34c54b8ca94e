"""What every staff action shares, in one place (as flaskr's `get_post`): the row a button
acts on, and the state a toggle's button asks for. Each answers a bad request the same way
on every page: 400 without a valid CSRF token, 404 for an unknown row, 400 naming the field
for a state that is not 0 or 1.

An action loads its row here first, to answer 404 before anything else, and again inside
its write_transaction, to decide on what it reads under the lock.
"""

from typing import TypeVar

from flask import abort, current_app, request

from portal.core.extensions import db
from portal.web.forms import ActionForm
from portal.web.inputs import BadInput

Row = TypeVar("Row")


def require_button() -> None:
    """400 unless the POST carries a valid CSRF token (all a bare button's form holds)."""
    if not ActionForm().validate_on_submit():
        current_app.logger.info("%s: refused: no valid CSRF token", request.endpoint)
        abort(400)


def acted_on(model: type[Row], row_id: int) -> Row:
    """The row a button's POST acts on: 400 without a valid CSRF token, 404 if unknown."""
    require_button()
    return db.get_or_404(model, row_id)


def wanted_state(name: str, *, default: bool | None = None) -> bool:
    """The state a toggle asks for, "1" or "0" in the form's field `name`.

    The form says the state wanted, not "the other one": a second press, a resent POST or a
    stale tab changes nothing. Without the field: `default`, where the button has one; anything
    else is a 400 and a log line.
    """
    wanted = request.form.get(name)
    if wanted is None and default is not None:
        return default
    if wanted not in ("0", "1"):
        current_app.logger.info("%s: refused: %s=%r is not 0 or 1", request.endpoint, name, wanted)
        raise BadInput(f"“{name}” must be 0 or 1.")
    return wanted == "1"
