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
from flask import url_for
from flask_sqlalchemy.pagination import Pagination
from markupsafe import Markup, escape

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


def pager(pagination: Pagination, endpoint: str, by_time: bool = False, **arguments) -> Markup:
    """The links to a list's neighbouring pages and where it stands ("← Newer · Page 2 of 5 ·
    Older →"), each link `endpoint` with `arguments` (a list's filters) and its page; empty
    for a list of one page. `by_time`: a list newest first, whose pages are newer and older;
    any other order has a previous and a next.

    A template global rather than a macro: a template that imported the macro built the
    whole of macros.html again on every render (Jinja makes a fresh module for an import
    beside a request's context), which with the call was a tenth of the history's own work.
    """
    if pagination.pages <= 1:
        return Markup("")
    parts = ['<nav class="pager" aria-label="Pages">']
    if pagination.has_prev:
        url = escape(url_for(endpoint, page=pagination.prev_num, **arguments))
        parts.append(f'<a href="{url}">← {"Newer" if by_time else "Previous"}</a>')
    parts.append(f"<span>Page {pagination.page} of {pagination.pages}</span>")
    if pagination.has_next:
        url = escape(url_for(endpoint, page=pagination.next_num, **arguments))
        parts.append(f'<a href="{url}">{"Older" if by_time else "Next"} →</a>')
    parts.append("</nav>")
    return Markup("\n".join(parts))
