"""The rules for values read from a request, in one place.

Every integer a view reads from `request.args` goes through `query_int` (or `row_id`): `type=int` alone
takes "5_5" and " 7", and lets 2**63 through to the database driver, which raises
OverflowError (a 500). A bad value is a 400 naming the parameter, never a 500. For the
same reason `IdConverter` bounds every `<int:...>` in a URL: a larger id is a 404. Forms
use `portal.web.forms.IdField`, built on `portal.core.database.whole_number`.

No field takes a NUL character: PostgreSQL refuses one in any text (a 500 if it got that
far), so `refuse_nul_characters` turns such a request away first, on every page.
"""

from __future__ import annotations

from datetime import datetime

from flask import Request, current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from portal.core.clock import TimeOutOfRange, from_local
from portal.core.database import LARGEST_ID, LARGEST_ROW_ID, whole_number


class IdConverter(IntegerConverter):
    """Flask's `int` URL converter, bounded to what a row id column holds on either database."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", LARGEST_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


class BadInput(BadRequest):
    """A value from a request that a page cannot use; its description is safe to show and to log."""


# The Testpress endpoints read and answer their own input (the webhook its raw body; the
# return renders its refusals without the session), so the NUL rule leaves them to it.
OWN_INPUT_ENDPOINTS = {"testpress_return.receive_return", "testpress_webhook.receive_webhook"}


def refuse_nul_characters() -> None:
    """A before_request hook: BadInput (400) when a query or form field, name or value, holds a NUL."""
    if request.endpoint in OWN_INPUT_ENDPOINTS:
        return
    for fields in (request.args, request.form):
        for name, value in fields.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise BadInput("A field holds a NUL character, which no field accepts.")
    # An uploaded file's name too: it is stored (an import keeps its filename), and PostgreSQL refuses a NUL.
    for name, upload in request.files.items(multi=True):
        if "\x00" in name or "\x00" in (upload.filename or ""):
            raise BadInput("A file's name holds a NUL character, which no field accepts.")


def query_int(name: str, *, minimum: int = 1, maximum: int = LARGEST_ID) -> int | None:
    """The integer query parameter `name`, or None when absent or empty; BadInput (400) if bad."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    number = whole_number(text, minimum=minimum, maximum=maximum)
    if number is None:
        raise BadInput(f"“{name}” must be a whole number from {minimum} to {maximum}.")
    return number


def page_number(per_page: int) -> int:
    """The `page` parameter for db.paginate, bounded so that its row offset fits a 64-bit integer."""
    return query_int("page", maximum=LARGEST_ID // per_page) or 1


def row_id(name: str) -> int | None:
    """The query parameter `name` naming one of the portal's rows (an exam, say); BadInput if bad."""
    return query_int(name, maximum=LARGEST_ROW_ID)


# Endpoints whose request body may be larger than MAX_CONTENT_LENGTH, and the setting that
# bounds each: the people import's CSV upload.
LARGER_BODIES = {"admin.import_people": "IMPORT_MAX_BYTES"}


class PortalRequest(Request):
    """Flask's request, with a body limit per endpoint (LARGER_BODIES).

    Chosen here, at URL matching, rather than by the view setting `request.max_content_length`:
    the CSRF check and refuse_nul_characters read the form in before_request hooks, before
    any view runs, and the form is parsed under the limit in force then.
    """

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and current_app and self.endpoint in LARGER_BODIES:
            return current_app.config[LARGER_BODIES[self.endpoint]]
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def query_local_time(name: str):
    """The query parameter `name` as a time staff typed in the institute's zone (an HTML
    datetime-local value, or a bare date for its midnight), as stored (naive UTC); None when
    absent or empty; BadInput (400) if it is not such a time."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            typed = datetime.strptime(text, layout)
        except ValueError:
            continue
        try:
            return from_local(typed)
        except TimeOutOfRange as error:
            raise BadInput(f"“{name}”: {error}") from None
    raise BadInput(f"“{name}” must be a date and time such as 2026-12-01T09:30.")
