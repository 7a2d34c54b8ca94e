"""Filters every template may use, registered on the app by `configure_templates`."""

from __future__ import annotations

from datetime import datetime

from portal.models import utcnow


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A stored (naive UTC) time as how long ago it was: "3 hours ago", "just now", "never"."""
    if moment is None:
        return "never"
    seconds = int(((now or utcnow()) - moment).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


TEMPLATE_FILTERS = {"ago": ago}
