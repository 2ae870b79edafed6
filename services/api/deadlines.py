"""The active tasks' deadlines as the figures count them: kept, or scanned.

The figures count the open tasks past a deadline (missed already, not yet in the
rollups), the SLA standing splits the active tasks by how near their deadline is, and
both hold until the next deadline passes or the next task comes within ``AT_RISK`` of
one. Each read here asks ``services.api.active_kept`` first (sorted deadlines kept per
database: bisections) and scans the active tasks when nothing is kept (more active
tasks than it keeps, or a database never written through the rollups).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa

from services.api import active_kept
from services.api.active_kept import FOREVER, Overdue, Pair, Standing
from services.api.models import TASKS
from services.api.models.rollups import active
from services.api.rollup_reads import Window
from services.api.tally import ROUTER, TEAM
from services.core.departments import asking_department

AT_RISK: Final = timedelta(hours=1)


def overdue(conn: sa.Connection, now: datetime, window: Window) -> Overdue:
    """Open tasks raised in ``window`` past a deadline per key: (not acknowledged, not
    resolved) in time, keys with none left out."""
    kept = active_kept.overdue(conn, now, window)
    return _overdue_scan(conn, now, window) if kept is None else kept


def standing(conn: sa.Connection, now: datetime, at_risk: timedelta = AT_RISK) -> Standing:
    """Active tasks per team: ``sla_due`` passed (breached), within ``at_risk`` (at_risk),
    or later (ok)."""
    kept = active_kept.standing(conn, now, at_risk)
    return _standing_scan(conn, now, at_risk) if kept is None else kept


def next_deadline(conn: sa.Connection, now: datetime) -> datetime:
    """The next deadline of an active task after ``now``: ``overdue`` holds until then."""
    kept = active_kept.holds_until(conn, now, None)
    return kept or _first(
        conn.scalar(sa.select(sa.func.min(_t.sla_due)).where(active(), _t.sla_due > now)),
        conn.scalar(sa.select(sa.func.min(_t.resolve_by)).where(active(), _t.resolve_by > now)),
    )


def holds_until(conn: sa.Connection, now: datetime, at_risk: timedelta = AT_RISK) -> datetime:
    """Until when ``overdue`` and ``standing`` read at ``now`` hold (while no task changes):
    the next deadline of an active task, or its next crossing into at risk."""
    kept = active_kept.holds_until(conn, now, at_risk)  # else: four queries
    return kept or min(next_deadline(conn, now), _next_line(conn, now, at_risk))


# --- the scans ------------------------------------------------------------------------------

_t = TASKS.c


def _overdue_scan(conn: sa.Connection, now: datetime, window: Window) -> Overdue:
    deadline = sa.func.coalesce(_t.resolve_by, _t.sla_due)
    late = sa.and_(_t.acknowledged_at.is_(None), _t.sla_due <= now)
    ack = sa.func.sum(sa.case((late, 1), else_=0))
    res = sa.func.sum(sa.case((deadline <= now, 1), else_=0))
    # the source only where no department was kept (no bound value: one GROUP BY key)
    unknown = sa.or_(_t.department.is_(None), _t.department == sa.literal_column("''"))
    source = sa.case((unknown, _t.source))
    query = (
        sa.select(_t.department, source, _t.team, _t.answered_by, ack, res)
        .where(active(), _t.sla_due <= now, *task_filters(window))
        .group_by(_t.department, source, _t.team, _t.answered_by)
    )
    out: dict[Pair, tuple[int, int]] = {}
    for department, origin, team, by, acks, resolves in conn.execute(query):
        key = (department or asking_department(origin), team, ROUTER if by == ROUTER else TEAM)
        was = out.get(key, (0, 0))
        out[key] = (was[0] + int(acks or 0), was[1] + int(resolves or 0))
    return {key: value for key, value in out.items() if value != (0, 0)}


def task_filters(window: Window) -> list[sa.ColumnElement[bool]]:
    """The window as conditions on the tasks (raised in it, its team, its department)."""
    where = []
    if window.since is not None:
        where.append(_t.raised_at >= window.since)
    if window.until is not None:
        where.append(_t.raised_at < window.until)
    if window.team is not None:
        where.append(_t.team == window.team)
    if window.department is not None:
        where.append(_t.department == window.department)
    return where


def _standing_scan(conn: sa.Connection, now: datetime, at_risk: timedelta) -> Standing:
    line = sa.case(
        (_t.sla_due < now, "breached"), (_t.sla_due < now + at_risk, "at_risk"), else_="ok"
    )
    of_active = sa.select(_t.team, line.label("sla")).where(active())
    rows = of_active.subquery()  # PostgreSQL does not see two bound CASEs as one GROUP BY key
    query = sa.select(rows.c.team, rows.c.sla, sa.func.count()).group_by(rows.c.team, rows.c.sla)
    return {(str(team), str(sla)): int(n) for team, sla, n in conn.execute(query)}


def _next_line(conn: sa.Connection, now: datetime, at_risk: timedelta) -> datetime:
    """When the next active task turns breached or at risk: the standing holds until then."""
    due = conn.scalar(sa.select(sa.func.min(_t.sla_due)).where(active(), _t.sla_due >= now))
    later = sa.select(sa.func.min(_t.sla_due)).where(active(), _t.sla_due >= now + at_risk)
    risky = conn.scalar(later)
    return _first(due, risky - at_risk if risky is not None else None)


def _first(*found: datetime | None) -> datetime:
    return min((at for at in found if at is not None), default=FOREVER)
