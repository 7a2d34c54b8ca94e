"""`among`: an IN list of a thousand values, as the sync's and the webhook's matching send them.

SQLAlchemy's own form costs more in Python than SQLite spends doing the work, so on SQLite
a long list takes a shorter path; PostgreSQL binds a list as one array; on any other
database it is the plain form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from portal.core.extensions import db

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
