"""Reading the rollups: sums per key over a window, exact at partial hours.

Keys are asking department (the request's source's) x answering team x answered_by
(``team``: people; ``router``: the router's own instant answers). Latencies come from
fixed log-spaced bins: every percentile is within 1.01 % of the exact nearest-rank value
(exact while a bin holds one distinct value). Windows: whole UTC days come from the daily
rollups, the whole hours around them from the hourly ones, the partial hours at either end
from the task rows, so a window is exact.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from services.api.models import DELIVERIES, ORIGINS, ROLLUPS, TASKS
from services.api.models.rollups import ALL, ALL_TIME, DAY, HOUR
from services.api.rollup_kept import kept_sums
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
    """The measures summed per key over the window: rollup rows, plus exact partial hours.
    The sums may be shared (``services.api.rollup_kept``): never change them in place."""
    if window.since is None and window.until is None:
        key = ("all", tuple(measures), window.team, window.department)
        read = partial(_all_time, conn, measures, window)
        return kept_sums(conn, key, measures, _key_filters(window), read)
    first = _ceil_hour(window.since) if window.since is not None else None
    last = hour_of(window.until) if window.until is not None else None
    if first is not None and last is not None and first >= last:
        return _exact(conn, measures, window, window.since, window.until)
    whole = _whole_hours(conn, measures, window, first, last)
    edges: list[Sums] = []
    if window.since is not None and first is not None and window.since < first:
        edges.append(_edge(conn, measures, window, window.since, first))
    if window.until is not None and last is not None and last < window.until:
        edges.append(_edge(conn, measures, window, last, window.until))
    if not edges:
        return whole
    return _with_edges(conn, (tuple(measures), window), whole, tuple(edges))


def _edge(conn: sa.Connection, measures: Sequence[str], window: Window, lo: Any, hi: Any) -> Sums:
    """A partial hour from the task rows, kept while no rollup row of its hour changed."""
    key = ("edge", tuple(measures), window.team, window.department, lo, hi)

    def read(_: Collection[Key] | None) -> Sums:  # never per key: the hour's tasks, all
        return _exact(conn, measures, window, lo, hi)

    return kept_sums(conn, key, measures, _key_filters(window), read, hour=hour_of(lo))


# the window's whole hours and its edges added up, kept while neither changed (per database)
_added: dict[tuple[Any, ...], tuple[Sums, tuple[Sums, ...], Sums]] = {}
ADDED_KEPT = 16


def _with_edges(
    conn: sa.Connection, key: tuple[Any, ...], whole: Sums, edges: tuple[Sums, ...]
) -> Sums:
    """``whole`` plus ``edges``: only the keys whose sums are new objects added again (kept
    sums keep an unchanged key's very object from one version to the next)."""
    full_key = (str(conn.engine.url), *key)
    was = _added.get(full_key)
    if was is None or not _same(was[1], edges):
        added = whole
        for edge in edges:
            added = _plus(added, edge)
    elif was[0] is whole:
        return was[2]
    else:
        before = was[0]
        changed = {k for k, delta in whole.items() if before.get(k) is not delta}
        added = dict(was[2])
        for k in changed | (before.keys() - whole.keys()):
            parts = [sums[k] for sums in (whole, *edges) if k in sums]
            added.pop(k, None)
            for part in parts:
                added[k] = _sum(added[k], part) if k in added else part
    if len(_added) >= ADDED_KEPT and full_key not in _added:
        _added.pop(next(iter(_added)))
    _added[full_key] = (whole, edges, added)
    return added


def _whole_hours(
    conn: sa.Connection,
    measures: Sequence[str],
    window: Window,
    first: datetime | None,
    last: datetime | None,
) -> Sums:
    """The rollup rows of the whole hours [first, last), kept and patched between versions."""

    def read(keys: Collection[Key] | None) -> Sums:
        sums: Sums = {}
        for span in spans(first, last):
            _rows(conn, measures, window, span, sums, keys)
        return sums

    key = ("rows", tuple(measures), window.team, window.department, first, last)
    return kept_sums(conn, key, measures, _key_filters(window), read)


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


def _all_time(
    conn: sa.Connection,
    measures: Sequence[str],
    window: Window,
    keys: Collection[Key] | None = None,
) -> Sums:
    """One row per key (of ``keys`` only, given), its percentiles kept with it: nothing to
    decode or merge."""
    r = ROLLUPS.c
    query = sa.select(
        r.measure, r.department, r.team, r.answered_by, r.n, r.p50, r.p90, r.p99, r.max
    ).where(r.grain == ALL, r.bucket == ALL_TIME, r.measure.in_(measures), *_key_filters(window))
    sums: Sums = {}
    for chunk in [None] if keys is None else _chunks(sorted(keys)):
        of_keys = query if chunk is None else query.where(_KEY.in_(chunk))
        for measure, department, team, by, n, p50, p90, p99, top in conn.execute(of_keys):
            stats = LatencySummary(n, p50, p90, p99, top) if p50 is not None else EMPTY
            sums[(measure, department, team, by)] = Delta(n, {}, stats)
    return sums


def _rows(
    conn: sa.Connection,
    measures: Sequence[str],
    window: Window,
    span: Span,
    sums: Sums,
    keys: Collection[Key] | None = None,
) -> None:
    """Add the rows of one grain over [from, to) to ``sums`` (of ``keys`` only, given)."""
    grain, first, last = span
    r = ROLLUPS.c
    query = sa.select(r.measure, r.department, r.team, r.answered_by, r.n, r.bins).where(
        r.grain == grain, r.measure.in_(measures), *_key_filters(window)
    )
    if first is not None:
        query = query.where(r.bucket >= first)
    if last is not None:
        query = query.where(r.bucket < last)
    chunks = [None] if keys is None else _chunks(sorted(keys))
    for chunk in chunks:
        of_keys = query if chunk is None else query.where(_KEY.in_(chunk))
        for measure, department, team, by, n, bins in conn.execute(of_keys):
            delta = sums.setdefault((measure, department, team, by), Delta())
            delta.n += n
            add_encoded(delta.bins, bins)


_KEY = sa.tuple_(ROLLUPS.c.measure, ROLLUPS.c.department, ROLLUPS.c.team, ROLLUPS.c.answered_by)
KEYS_PER_READ = 500


def _chunks(keys: list[Key]) -> list[list[Key] | None]:
    return [keys[i : i + KEYS_PER_READ] for i in range(0, len(keys), KEYS_PER_READ)]


def _key_filters(window: Window) -> list[sa.ColumnElement[bool]]:
    where = []
    if window.team is not None:
        where.append(ROLLUPS.c.team == window.team)
    if window.department is not None:
        where.append(ROLLUPS.c.department == window.department)
    return where


def _same(these: tuple[Sums, ...], those: tuple[Sums, ...]) -> bool:
    """The very same sums objects (kept sums are replaced, never changed in place)."""
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


def _plus(sums: Sums, other: Sums) -> Sums:
    """``sums`` and ``other`` added, as a new mapping (both may be shared: unchanged)."""
    out = dict(sums)
    for key, delta in other.items():
        out[key] = _sum(out[key], delta) if key in out else delta
    return out


def _sum(one: Delta, other: Delta) -> Delta:
    added = Delta()
    added.merge(one)
    added.merge(other)
    return added


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
