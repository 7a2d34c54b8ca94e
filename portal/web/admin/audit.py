"""The audit log: every staff action that changed data, newest first, with filters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import render_template, request, url_for
from sqlalchemy.orm import joinedload

from portal.core.audit import action_label, recorded_time, target_label
from portal.core.clock import from_local, to_local, zone_name
from portal.core.extensions import db
from portal.models import AuditEntry, User
from portal.web.admin.blueprint import bp
from portal.web.inputs import BadInput, row_id
from portal.web.pagination import paginate

ENTRIES_PER_PAGE = 50


@dataclass(frozen=True)
class Change:
    name: str
    before: str
    after: str


@bp.get("/audit")
def audit():
    """The audit log, newest first, filtered by actor, action, target type and a date range
    (days in the institute's zone). 400 for a filter value that is not one."""
    actor_id = row_id("actor")
    action = request.args.get("action", "").strip()
    target_type = request.args.get("target", "").strip()
    since, until = query_date("from"), query_date("to")
    query = sa.select(AuditEntry).options(joinedload(AuditEntry.actor))
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if since:
        query = query.where(AuditEntry.at >= from_local(datetime.combine(since, datetime.min.time())))
    if until:  # the whole of the last day
        query = query.where(AuditEntry.at < from_local(datetime.combine(until + timedelta(days=1),
                                                                        datetime.min.time())))
    page = paginate(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), ENTRIES_PER_PAGE)
    filters = {"actor": actor_id or "", "action": action, "target": target_type,
               "from": since.isoformat() if since else "", "to": until.isoformat() if until else ""}
    return render_template(
        "admin/audit.html", page=page, filters=filters, zone=zone_name(), changes=changes_of,
        action_label=action_label, target_label=target_label, target_url=target_url,
        # Staff, and anyone else the log names (someone no longer staff, say).
        staff=db.session.scalars(sa.select(User).where(
            User.is_staff | User.id.in_(sa.select(AuditEntry.actor_id).distinct())).order_by(User.name)).all(),
        actions=db.session.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)).all(),
        target_types=db.session.scalars(
            sa.select(AuditEntry.target_type).distinct().order_by(AuditEntry.target_type)).all(),
    )


# The page each kind of target has (a deleted exam's link answers 404, as any unknown one).
TARGET_PAGES = {"attempt": ("admin.attempt", "attempt_id"), "batch": ("admin.batch", "batch_id"),
                "exam": ("admin.exam", "exam_id"), "import": ("admin.import_preview", "import_id"),
                "person": ("admin.person", "user_id"), "sync_run": ("admin.run", "run_id")}


def target_url(entry: AuditEntry) -> str | None:
    if entry.target_id is None or entry.target_type not in TARGET_PAGES:
        return None
    endpoint, argument = TARGET_PAGES[entry.target_type]
    return url_for(endpoint, **{argument: entry.target_id})


def query_date(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    # Bounded, so that a day's end and the zone's offset stay within what a datetime holds.
    if day is None or not 2000 <= day.year <= 9000:
        raise BadInput(f"“{name}” must be a date such as 2026-12-01 (years 2000 to 9000).")
    return day


def changes_of(entry: AuditEntry) -> list[Change]:
    """The entry's before and after values, field by field, as text to show."""
    before, after = decoded(entry.before), decoded(entry.after)
    names = list(dict.fromkeys([*before, *after]))
    return [Change(name, shown(before.get(name, "")), shown(after.get(name, ""))) for name in names]


def decoded(text: str | None) -> dict:
    if not text:
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        return {"(recorded)": text}  # an entry written by hand, outside portal.core.audit
    return values if isinstance(values, dict) else {"(recorded)": values}


def shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    moment = recorded_time(value)
    if moment is not None:  # as the page's other times: the institute's zone, named
        try:
            local = to_local(moment)
        except OverflowError:  # year 9999 east of UTC (the zone changed since): as recorded
            return f"{value} UTC"
        return f"{local:%d %b %Y, %H:%M} {local:%Z}"
    return str(value)
