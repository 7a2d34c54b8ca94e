"""Pages of a list: `?page=` read once, and a page past the end shown as the last page.

One behaviour for every paged list (the student's history, the staff's attempts and any
list added later): a `?page=` beyond the last page, from an old bookmark or a list that
shrank since, shows the last page rather than a 404, and a list with nothing in it is
page 1 of nothing, which each page words as its own empty state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination

from portal.core.extensions import db
from portal.web.inputs import page_number

P = TypeVar("P", bound=Pagination)


def requested_page(build: Callable[[int], P], per_page: int) -> P:
    """`build(n)` for the page `?page=` asks for (400 if it is not a page number), or for the
    last page when it asks beyond it. `build` must not raise for a page past the end
    (db.paginate: error_out=False). Only that case costs a second query."""
    number = page_number(per_page)
    page = build(number)
    if number > 1 and number > page.pages:
        page = build(max(page.pages, 1))
    return page


def paginate(select: sa.Select, per_page: int) -> Pagination:
    """`db.paginate` of `select` at the requested page, clamped as `requested_page` says."""
    return requested_page(
        lambda number: db.paginate(select, page=number, per_page=per_page, max_per_page=None, error_out=False),
        per_page,
    )
