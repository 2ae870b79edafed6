"""Reading the rollups: sums per key over a window, exact at partial hours.

Keys are asking department (the request's source's) x answering team x answered_by
(``team``: people; ``router``: the router's own instant answers). Latencies come from
fixed log-spaced bins: every percentile is within 1.01 % of the exact nearest-rank value
(exact while a bin holds one distinct value). Windows: whole UTC days come from the daily
rollups, the whole hours around them from the hourly ones, the partial hours at either end
from the task rows, so a window is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.api.models import DELIVERIES, ORIGINS, ROLLUPS, TASKS
from services.api.models.rollups import ALL, ALL_TIME, DAY, HOUR
from services.api.rollups import add_encoded, snapshot
from services.api.tally import Delta, Key, day_of, hour_of, increments, keys_of
from services.core.stats import LatencySummary

Sums = dict[Key, Delta]  # (measure, department, team, answered_by) -> count and bins
EDGE_CHUNK = 2000
EMPTY = LatencySummary(0, None, None, None, None)


@dataclass(frozen=True)
class Window:
    """Which times count: [since, until), either end open; plus key filters."""

    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    department: str | None = None


# --- reading the rollups --------------------------------------------------------------------


def read_rollups(conn: sa.Connection, measures: Sequence[str], window: Window) -> Sums:
    """The measures summed per key over the window: rollup rows, plus exact partial hours."""
    if window.since is None and window.until is None:
        return _all_time(conn, measures, window)
    first = _ceil_hour(window.since) if window.since is not None else None
    last = hour_of(window.until) if window.until is not None else None
    if first is not None and last is not None and first >= last:
        return _exact(conn, measures, window, window.since, window.until)
    sums: Sums = {}
    for span in spans(first, last):
        _rows(conn, measures, window, span, sums)
    if window.since is not None and first is not None and window.since < first:
        _add(sums, _exact(conn, measures, window, window.since, first))
    if window.until is not None and last is not None and last < window.until:
        _add(sums, _exact(conn, measures, window, last, window.until))
    return sums


def _ceil_hour(at: datetime) -> datetime:
    floor = hour_of(at)
    return floor if floor == at else floor + timedelta(hours=1)


def _ceil_day(at: datetime) -> datetime:
    floor = day_of(at)
    return floor if floor == at else floor + timedelta(days=1)


Span = tuple[str, datetime | None, datetime | None]  # grain, [from, to): None is open


def spans(first: datetime | None, last: datetime | None) -> list[Span]:
    """Whole hours [first, last) as rollup rows: the whole days in it from the daily rows, the
    hours before and after them from the hourly ones (few: under a day at either end)."""
    start = _ceil_day(first) if first is not None else None
    end = day_of(last) if last is not None else None
    if start is not None and end is not None and start >= end:
        return [(HOUR, first, last)]
    out: list[Span] = [(DAY, start, end)]
    if first is not None and start is not None and first < start:
        out.insert(0, (HOUR, first, start))
    if last is not None and end is not None and end < last:
        out.append((HOUR, end, last))
    return out


def _all_time(conn: sa.Connection, measures: Sequence[str], window: Window) -> Sums:
    """One row per key, its percentiles kept with it: nothing to decode or merge."""
    r = ROLLUPS.c
    query = sa.select(
        r.measure, r.department, r.team, r.answered_by, r.n, r.p50, r.p90, r.p99, r.max
    ).where(r.grain == ALL, r.bucket == ALL_TIME, r.measure.in_(measures), *_key_filters(window))
    sums: Sums = {}
    for measure, department, team, by, n, p50, p90, p99, top in conn.execute(query):
        stats = LatencySummary(n, p50, p90, p99, top) if p50 is not None else EMPTY
        sums[(measure, department, team, by)] = Delta(n, {}, stats)
    return sums


def _rows(
    conn: sa.Connection, measures: Sequence[str], window: Window, span: Span, sums: Sums
) -> None:
    """Add the rows of one grain over [from, to) to ``sums``."""
    grain, first, last = span
    r = ROLLUPS.c
    query = sa.select(r.measure, r.department, r.team, r.answered_by, r.n, r.bins).where(
        r.grain == grain, r.measure.in_(measures), *_key_filters(window)
    )
    if first is not None:
        query = query.where(r.bucket >= first)
    if last is not None:
        query = query.where(r.bucket < last)
    for measure, department, team, by, n, bins in conn.execute(query):
        delta = sums.setdefault((measure, department, team, by), Delta())
        delta.n += n
        add_encoded(delta.bins, bins)


def _key_filters(window: Window) -> list[sa.ColumnElement[bool]]:
    where = []
    if window.team is not None:
        where.append(ROLLUPS.c.team == window.team)
    if window.department is not None:
        where.append(ROLLUPS.c.department == window.department)
    return where


def _add(into: Sums, other: Sums) -> None:
    for key, delta in other.items():
        into.setdefault(key, Delta()).merge(delta)


def _exact(conn: sa.Connection, measures: Sequence[str], window: Window, lo: Any, hi: Any) -> Sums:
    """The measures over [lo, hi) from the task rows (a partial hour: few tasks)."""
    wanted = set(measures)
    ids = sorted(_touching(conn, lo, hi))
    sums: Sums = {}
    for start in range(0, len(ids), EDGE_CHUNK):
        for task in snapshot(conn, ids[start : start + EDGE_CHUNK]):
            for inc in increments(task):
                if inc.measure in wanted and lo <= inc.at < hi:
                    for key in keys_of(inc):
                        if _matches(key, window):
                            sums.setdefault(key, Delta()).add(inc, 1)
    return sums


def _matches(key: Key, window: Window) -> bool:
    return (window.team is None or key[2] == window.team) and (
        window.department is None or key[1] == window.department
    )


def _touching(conn: sa.Connection, lo: datetime, hi: datetime) -> set[str]:
    """Tasks with a time in [lo, hi): raised, a request raised, resolved, an answer delivered."""
    queries = [
        sa.select(TASKS.c.task_id).where(TASKS.c.raised_at >= lo, TASKS.c.raised_at < hi),
        sa.select(ORIGINS.c.task_id).where(ORIGINS.c.raised_at >= lo, ORIGINS.c.raised_at < hi),
        sa.select(TASKS.c.task_id).where(TASKS.c.resolved_at >= lo, TASKS.c.resolved_at < hi),
        sa.select(DELIVERIES.c.task_id).where(
            DELIVERIES.c.delivered_at >= lo, DELIVERIES.c.delivered_at < hi
        ),
    ]
    return {task_id for query in queries for task_id in conn.scalars(query)}


def get(sums: Sums, measure: str, department: str, team: str, answered_by: str) -> Delta:
    """One key's sums (nothing counted: empty)."""
    return sums.get((measure, department, team, answered_by)) or Delta()
