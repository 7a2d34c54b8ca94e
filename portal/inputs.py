"""The rules for values read from a request's query string, in one place.

Every integer a view reads from `request.args` goes through `query_int`: `type=int` alone
takes "5_5" and " 7", and lets 2**63 through to the database driver, which raises
OverflowError (a 500). A bad value is a 400 naming the parameter, never a 500.
"""

from __future__ import annotations

import re

from flask import request
from werkzeug.exceptions import BadRequest

# The widest integer column is a signed 64-bit BIGINT, on SQLite and PostgreSQL alike.
LARGEST_ID = 2**63 - 1
# ASCII digits only: int() also reads "٥", "5_5", "+5" and surrounding spaces.
DIGITS = re.compile(r"[0-9]{1,19}")


class BadQueryValue(BadRequest):
    """A query-string value a page cannot use; its description is safe to show and to log."""


def whole_number(text: str, *, minimum: int = 1, maximum: int = LARGEST_ID) -> int | None:
    """`text` as an integer in [minimum, maximum], or None if it is not plain digits in range."""
    if not DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None


def query_int(name: str, *, minimum: int = 1, maximum: int = LARGEST_ID) -> int | None:
    """The integer query parameter `name`, or None when absent or empty; BadQueryValue (400) if bad."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    number = whole_number(text, minimum=minimum, maximum=maximum)
    if number is None:
        raise BadQueryValue(f"“{name}” must be a whole number from {minimum} to {maximum}.")
    return number


def page_number(per_page: int) -> int:
    """The `page` parameter for db.paginate, bounded so that its row offset fits a 64-bit integer."""
    return query_int("page", maximum=LARGEST_ID // per_page) or 1
