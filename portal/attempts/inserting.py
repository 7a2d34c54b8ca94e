"""New attempts written in bulk: a sync page's, one statement for the attempts and one for their reports.

The attempts are the ORM objects `record_report` recorded, exactly as the webhook's; only the
writing differs. The unit of work inserts them one by one on SQLite, which cannot say which
id it gave which row of a multi-row INSERT ... RETURNING (SQLAlchemy then falls back to a
statement per row, and the flush was a third of a first sync). Here the rows go in one
multi-row INSERT, and each id is told by the attempt's unique Testpress id, which RETURNING
gives beside it. The flush hooks see the attempts as new in the session's next flush
(models.inserted_in_bulk), so the standings and the exams' counts keep one rule each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.core.objects import blank_values
from portal.models import Attempt, AttemptReport, inserted_in_bulk

_ATTEMPTS, _REPORTS = Attempt.__table__, AttemptReport.__table__
_INSERT_ATTEMPTS = _ATTEMPTS.insert().returning(_ATTEMPTS.c.testpress_attempt_id, _ATTEMPTS.c.id)
_INSERT_REPORTS = _REPORTS.insert()


_ATTEMPT_COLUMNS = frozenset(_ATTEMPTS.c.keys())
_REPORT_COLUMNS = frozenset(_REPORTS.c.keys())
_ATTEMPT_BLANK, _REPORT_BLANK = blank_values(Attempt), blank_values(AttemptReport)
_ABSENT = object()


def _column_values(instance, columns: frozenset[str], blank: dict) -> dict:
    """The values of `columns` set on a new object (its instance dict) but those the table
    would put there itself (core.objects.blank_values): a column left out takes its default
    from the table, as in a flush. A new object holds every column (core.objects.new_object),
    mostly empty, and each value sent is bound, type by type, per row: leaving out the blank
    ones sends a third of them, and rows of one kind keep one shape. (A new attempt's id is
    None: left out too.)"""
    return {key: value for key, value in instance.__dict__.items()
            if key in columns and not ((default := blank.get(key, _ABSENT)) is value or (
                value == default and type(value) is type(default)))}


def _by_shape(rows: Iterable[dict]) -> Iterable[list[dict]]:
    """`rows` grouped by their keys: one executemany takes rows of one shape."""
    groups: dict[frozenset, list[dict]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return groups.values()


# The most rows in one INSERT: SQLite takes at most 32,766 values a statement (an attempt has 33).
_LONGEST_BATCH = 512


def _batches(rows: list[dict]) -> Iterator[list[dict]]:
    """`rows` in batches whose lengths are powers of two (913: 512, 256, 128, 16, 1).

    Each length is another statement (a multi-row INSERT ... RETURNING), and sqlite3 keeps up
    to 128 prepared statements a connection, a thousand rows' one taking megabytes: a page
    of any other number of new attempts than the last was another, and a first sync grew by
    2 MB a page until the cache was full. Ten lengths are all it ever prepares now."""
    start = 0
    while start < len(rows):
        size = min(_LONGEST_BATCH, 1 << ((len(rows) - start).bit_length() - 1))
        yield rows[start:start + size]
        start += size


def insert_attempts(session: Session, attempts: list[Attempt]) -> None:
    """Insert `attempts` (new, each with a Testpress attempt id, none in the session) and
    their reports, in the session's transaction; the caller's transaction must flush again
    before it commits (models.inserted_in_bulk). Each attempt is given its id."""
    if not attempts:
        return
    if any(attempt.testpress_attempt_id is None or attempt.id is not None for attempt in attempts):
        raise ValueError("insert_attempts takes new attempts known by their Testpress id")
    ids: dict[str, int] = {}
    for rows in _by_shape(_column_values(attempt, _ATTEMPT_COLUMNS, _ATTEMPT_BLANK) for attempt in attempts):
        for batch in _batches(rows):
            ids.update(session.execute(_INSERT_ATTEMPTS, batch).all())
    reports = []
    for attempt in attempts:
        attempt_id = ids[attempt.testpress_attempt_id]
        set_committed_value(attempt, "id", attempt_id)
        reports.extend({**_column_values(report, _REPORT_COLUMNS, _REPORT_BLANK), "attempt_id": attempt_id}
                       for report in attempt.reports)
    for rows in _by_shape(reports):
        session.execute(_INSERT_REPORTS, rows)
    inserted_in_bulk(session, attempts)
