"""`new_object`: a new ORM object built from its values in one step, for the sync's thousands a page.

The declarative constructor sets each keyword through the attribute instrumentation (events,
history), about 3 µs a value, and every column left unset then costs as much again at each
reading (the ORM looks for a loader before it answers None). A page of a thousand new
attempts, each with a report, paid more for that than for its SQL. `new_object` puts every
column's value in the instance's dict at once, as the ORM does for a row it loads: the
columns given, and the others as a flush would insert them (None, or the model's constant
default; a default computed at the insert, a time, is left to the insert). It is the same
mapped object: the unit of work inserts it from those values, and attributes set on it
afterwards are instrumented as on any other.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

Model = TypeVar("Model")


@cache
def _blank(model: type) -> tuple[object, dict, frozenset[str]]:
    """The model's class manager, its columns' values before any is given, and the columns' keys."""
    mapper = sa.inspect(model)
    blank = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        default = column.default
        if default is None:
            if column.nullable or column.primary_key:
                blank[prop.key] = None
        elif default.is_scalar:
            blank[prop.key] = default.arg
    return mapper.class_manager, blank, frozenset(prop.key for prop in mapper.column_attrs)


def blank_values(model: type) -> dict:
    """`model`'s columns by the value a new row holds when none is given, as a flush would
    insert it: None, or the model's constant default. A column not named must be given (or
    the insert computes it: a time)."""
    return _blank(model)[1]


def new_object(model: type[Model], **values) -> Model:
    """A new (transient) `model` holding `values`, column attributes only; TypeError for any other key."""
    manager, blank, columns = _blank(model)
    if not values.keys() <= columns:
        raise TypeError(f"{model.__name__} has no column {sorted(values.keys() - columns)[0]!r}")
    instance = manager.new_instance()
    instance.__dict__.update(blank, **values)
    return instance


def _transient(instance) -> bool:
    state = instance._sa_instance_state
    return state.key is None and state.session_id is None


def assign(instance, values: dict) -> None:
    """Set `values` (column attributes) on `instance`. While it is transient (new, in no
    session: a sync page's new attempt, inserted in bulk) straight into its dict, as
    `new_object` builds it: there is no change to track for a row not yet written, and the
    instrumentation cost more than the rule that decided the values. Otherwise through the
    instrumentation, so that the flush sees what changed."""
    if _transient(instance):
        instance.__dict__.update(values)
        return
    for name, value in values.items():
        setattr(instance, name, value)


def append(instance, collection: str, item) -> None:
    """Append `item` to `instance`'s `collection` (a relationship's list). While `instance` is
    transient, as in `assign`, without the instrumentation: the bulk insert reads a new
    attempt's reports from the list itself (portal.attempts.inserting), so no backref,
    cascade or history is wanted, and its events cost more than the report's own rule (a
    first sync: 70 µs an append of the 300 µs an attempt took). Otherwise through the
    instrumentation, so that the flush inserts it."""
    if _transient(instance):
        set_committed_value(instance, collection, [*getattr(instance, collection), item])
        return
    getattr(instance, collection).append(item)
