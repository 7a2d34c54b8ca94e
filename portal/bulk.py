"""SQL for batches of a thousand rows, as the sync and the webhook's matching send them.

SQLAlchemy's own forms cost more in Python than SQLite spends doing the work, so on
SQLite these two take a shorter path; PostgreSQL binds a list as one array; on any other
database they are the plain forms.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from portal.extensions import db


# Below this many values an ordinary IN list is the cheaper: building the json_each form
# costs about a tenth of a millisecond, as much as rendering a hundred placeholders.
LONG_LIST = 100


def among(column: sa.ColumnElement, values: Iterable[int | str]) -> sa.ColumnElement[bool]:
    """`column IN values`; on SQLite a long list is bound as one JSON array, read by json_each,
    and on PostgreSQL any list as one array (`column = ANY(array)`).

    SQLAlchemy binds an IN list as one parameter per value and renders them anew at every
    execution (about a millisecond per thousand values), and sqlite3 then prepares and
    caches one statement per distinct number of values, which was most of the sync's
    memory growth. One bound array keeps both flat, and SQLite still searches the index.
    """
    values = list(values)
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        # One text array cast to the column's type, as an ordinary IN compares on SQLite:
        # psycopg sends a Python int as a number, which PostgreSQL will not compare with text.
        text = postgresql.ARRAY(sa.Text)
        return column == sa.any_(sa.cast(sa.literal([str(value) for value in values], text),
                                         postgresql.ARRAY(column.type)))
    if len(values) < LONG_LIST or dialect != "sqlite":
        return column.in_(values)
    array = sa.func.json_each(sa.literal(json.dumps(values), sa.String)).table_valued("value")
    # Cast to the column's type, as an ordinary IN would compare: a JSON number never equals text.
    return column.in_(sa.select(sa.cast(array.c.value, column.type)))


def insert_rows(table: sa.Table, columns: list[str], rows: list[list]) -> None:
    """INSERT `rows` (lists of values in the order of `columns`, converted in place) with
    one executemany on the driver.

    SQLAlchemy's own executemany spent five times longer preparing each row's parameters
    than SQLite spent storing it. Each value still goes through its column type's bind
    processor, so it is stored exactly as SQLAlchemy would store it (datetimes above all).
    """
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        connection.execute(sa.insert(table), [dict(zip(columns, row)) for row in rows])
        return
    # The dialect's own type (SQLite's DATETIME, say), not the generic one. Cached, because
    # a value often repeats down a column (the sync's `now` in every new attempt's
    # updated_at and api_seen_at); the values here are hashable and datetimes naive UTC.
    processors = [
        (index, functools.cache(process)) for index, name in enumerate(columns)
        if (process := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    for row in rows:
        for index, process in processors:
            if row[index] is not None:
                row[index] = process(row[index])
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.exec_driver_sql(statement, [tuple(row) for row in rows])
