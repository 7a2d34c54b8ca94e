"""Times: stored as naive UTC, shown and entered in the institute's zone (the TIMEZONE setting).

The one place a time crosses between the two: templates show times through
`portal.web.formatting.when`, and forms turn what staff type into UTC with `from_local`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import current_app


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp is stored in (SQLite keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(text: str) -> datetime:
    """An ISO 8601 time from Testpress as naive UTC; raises ValueError for anything else."""
    # "Z", as Testpress writes its times, is UTC already: dropping it is five times faster
    # than converting an aware time to UTC, and a sync reads two per attempt.
    moment = datetime.fromisoformat(text.removesuffix("Z"))
    try:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:  # "0001-01-01T00:00+05:30" is readable, but before year 1 in UTC
        raise ValueError(f"{text!r} is outside the years a time can hold in UTC") from None


class TimeOutOfRange(ValueError):
    """A time typed that has no UTC equivalent a datetime holds (year 1 east of UTC, 9999 west
    of it); its message says so in staff's words."""


class UnknownTimezone(click.ClickException):
    """TIMEZONE names no zone: stop at start-up with one line, not on the first page."""


def load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(f"TIMEZONE {name!r} is not a time zone: use a name such as "
                              "'UTC' or 'Asia/Kolkata'.") from None


def institute_zone() -> ZoneInfo:
    return current_app.extensions["timezone"]


def zone_name() -> str:
    """The zone as staff configured it ("Asia/Kolkata"), to name beside a time they enter."""
    return institute_zone().key


def to_local(moment: datetime) -> datetime:
    """A stored naive-UTC time in the institute's zone (aware)."""
    return moment.replace(tzinfo=UTC).astimezone(institute_zone())


def from_local(moment: datetime | None) -> datetime | None:
    """A naive time typed in the institute's zone, as stored (naive UTC).

    A time that a clock change skips or repeats is read as zoneinfo reads it (fold=0).
    TimeOutOfRange for one that UTC would move out of the calendar (before year 1 or after
    9999): every form and query parameter converts here, so each refuses it as bad input.
    """
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=institute_zone()).astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise TimeOutOfRange(f"{moment:%Y-%m-%d %H:%M} in {zone_name()} is outside the calendar in UTC: "
                             "choose a time between the years 1 and 9999.") from None
