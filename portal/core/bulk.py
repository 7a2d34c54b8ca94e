"""`among`: `column IN` a list bound as one parameter, as the sync's and the webhook's matching send them.

SQLAlchemy's own IN list binds a parameter per value and renders them anew at every
execution (about a millisecond per thousand values), and sqlite3 then prepares and caches one
statement per distinct number of values, which was most of the sync's memory growth. `among`
binds a long list as one parameter instead: a JSON array read by json_each on SQLite, an
array on PostgreSQL (any list, there). The statement is then the same for any number of
values, so it can also be built once, at import, and run with each call's list
(`among(column, listed("name"))`); SQLite and PostgreSQL still search the column's index.

SQLite's planner takes any `IN (SELECT ...)` for 25 values, so a short list given as values
stays a plain IN on SQLite: where another index competes (an attempt's `testpress_attempt_id
IS NULL` beside its student's), the planner then sees that one student is one lookup. Build a
statement once only where no such choice arises, and look at its plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from portal.core.extensions import db


class _Values(sa.types.TypeDecorator):
    """A list of values as one parameter: JSON text on SQLite, a text array on PostgreSQL
    (cast to the column's type in the statement, as an ordinary IN compares: psycopg sends
    a Python int as a number, which PostgreSQL will not compare with text)."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(postgresql.ARRAY(sa.Text) if dialect.name == "postgresql" else sa.String())

    def process_bind_param(self, value, dialect):
        if dialect.name == "postgresql":
            return [str(item) for item in value]
        return json.dumps(list(value))


def listed(name: str, values: list | None = None) -> sa.BindParameter:
    """The parameter `name` of a statement built once, taking a list of values at each
    execution (or always `values`: a list of constants)."""
    return sa.bindparam(name, values, type_=_Values())


class _Among(sa.sql.expression.ColumnElement):
    """`column IN values`, values a list bound as one parameter; compiled below for each database."""

    __visit_name__ = "portal_among"
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("values", InternalTraversal.dp_clauseelement)]
    type = sa.Boolean()
    # A comparison, as IN is: else SQLite (no boolean type) would be sent `(... IN ...) = 1`,
    # which no index answers.
    _is_implicitly_boolean = True

    def __init__(self, column: sa.ColumnElement, values: sa.BindParameter):
        self.column = column
        self.values = values

    @property
    def _from_objects(self) -> list:
        # The column's table, for a select whose only mention of it is here (an EXISTS).
        return self.column._from_objects


# Below this many values an ordinary IN list is the cheaper on SQLite, and its plan the surer.
LONG_LIST = 100


def among(column: sa.ColumnElement, values: Iterable[int | str] | sa.BindParameter) -> sa.ColumnElement[bool]:
    """`column IN values`: a `listed` parameter of a statement built once, or the values, a
    long list of them bound as one parameter. A number for a text column, or text for a
    number column, compares as an ordinary IN would."""
    if not isinstance(values, sa.BindParameter):
        values = list(values)
        if len(values) < LONG_LIST and db.session.get_bind().dialect.name == "sqlite":
            return column.in_(values)
        values = sa.bindparam(None, values, type_=_Values())
    return _Among(column, values)


def _parts(element: _Among, compiler, **kw) -> tuple[str, str, str]:
    type_ = compiler.dialect.type_compiler_instance.process(element.column.type)
    return compiler.process(element.column, **kw), compiler.process(element.values, **kw), type_


@compiles(_Among, "sqlite")
def _among_sqlite(element, compiler, **kw) -> str:
    column, values, type_ = _parts(element, compiler, **kw)
    # Cast to the column's type, as an ordinary IN would compare: a JSON number never equals text.
    return f"({column} IN (SELECT CAST(value AS {type_}) FROM json_each({values})))"


@compiles(_Among, "postgresql")
def _among_postgresql(element, compiler, **kw) -> str:
    column, values, type_ = _parts(element, compiler, **kw)
    return f"({column} = ANY(CAST({values} AS {type_}[])))"


@compiles(_Among)
def _among_shown(element, compiler, **kw) -> str:
    """Only for showing a statement (str()): the portal runs on SQLite and PostgreSQL."""
    return f"({compiler.process(element.column, **kw)} IN {compiler.process(element.values, **kw)})"
