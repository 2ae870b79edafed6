"""Figures over time for the overview's charts: raised vs answered, latency percentiles.

:func:`from_rollups` is what the pages draw: tasks raised per bucket (``tasks``) and
answers per bucket with their feedback latency (``task_answered``), from the totals kept
over every department and team (department and team ``*``), read from the hourly (or,
for day-wide buckets, daily) rollups: a few hundred rows whatever the number of tasks.
Answers the router gave itself (a feasible rush order) are counted apart from answers
people gave; latencies come from the rollups' bins (within 1.01 %, see
``services.core.stats.GROWTH``).

:func:`series` computes the same from task rows (:func:`rows_in`): the exact reference
the rollups are checked against (tests/integration/test_dashboard_series_rollups.py).
The two differ only where an answer reached its asker in a later bucket than the
resolve (the rollups count it at the delivery, as every figure does) or a percentile's
bin holds more than one distinct value. Aggregates only: no task is shown, so every
signed-in viewer may see them, as ``/v1/stats``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from services.api import figures
from services.api.db import Task
from services.api.models import ROLLUPS
from services.api.models.rollups import DAY, HOUR
from services.api.rollup_reads import Window, read_rollups
from services.api.rollups import decode_bins, stamp
from services.api.tally import ANY, ROUTER, TASK_ANSWERED, TASKS
from services.core.stats import Bins, add_bin, summarize, summarize_bins

SERIES_COLUMNS: Final = (
    Task.raised_at,
    Task.routed_at,
    Task.resolved_at,
    Task.state,
    Task.feedback_latency_s,
    Task.department,
)

# window name -> (how far back, bucket width in seconds)
WINDOWS: Final[dict[str, tuple[timedelta, int]]] = {
    "24h": (timedelta(hours=24), 3600),
    "7d": (timedelta(days=7), 6 * 3600),
    "30d": (timedelta(days=30), 86400),
}
DEFAULT_WINDOW: Final = "7d"


def window_of(name: str | None) -> str:
    """A known window name (the default for anything else)."""
    return name if name in WINDOWS else DEFAULT_WINDOW


def bounds(name: str, now: datetime) -> tuple[datetime, int, int]:
    """The window's first bucket start, bucket width (s) and bucket count; the last
    bucket holds ``now``."""
    span, width = WINDOWS[window_of(name)]
    slots = int(span.total_seconds()) // width
    end = int(now.timestamp()) // width * width + width
    return datetime.fromtimestamp(end - slots * width, tz=UTC), width, slots


def window_start(name: str, now: datetime) -> datetime:
    return bounds(name, now)[0]


def answered_by(row: Any) -> str | None:
    """``router`` or ``human`` for a resolved task, None while it is not answered.

    The rows may carry ``answered_by`` (rollups); else a router answer is the
    one resolved at the very moment it was routed, which no person can do.
    """
    if row.state != "resolved" or row.resolved_at is None:
        return None
    given = getattr(row, "answered_by", None)
    if given in ("router", "human"):
        return str(given)
    return "router" if row.resolved_at == row.routed_at else "human"


@dataclass
class _Bucket:
    raised: int = 0
    human: int = 0
    router: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Series:
    """Columns for a chart: x (bucket starts, epoch seconds) and one list per line."""

    x: list[int]
    raised: list[int]
    answered_human: list[int]
    answered_router: list[int]
    p50_s: list[float | None]
    p90_s: list[float | None]

    def chart(self, *names: str) -> list[list[Any]]:
        """The columns uPlot draws: x first, then the named lines."""
        return [self.x, *(getattr(self, name) for name in names)]


def _slot(at: datetime, start: datetime, width: int) -> int:
    return int((at - start).total_seconds() // width)


def _fill(rows: Iterable[Any], start: datetime, width: int, slots: int) -> list[_Bucket]:
    buckets = [_Bucket() for _ in range(slots)]
    for row in rows:
        if 0 <= (raised := _slot(row.raised_at, start, width)) < slots:
            buckets[raised].raised += 1
        who = answered_by(row)
        if who is None or not 0 <= (done := _slot(row.resolved_at, start, width)) < slots:
            continue
        setattr(buckets[done], who, getattr(buckets[done], who) + 1)
        if row.feedback_latency_s is not None:
            buckets[done].latencies.append(float(row.feedback_latency_s))
    return buckets


def series(rows: Iterable[Any], *, now: datetime, window: str) -> Series:
    """The window's buckets, oldest first, aligned to whole bucket widths (UTC)."""
    start, width, slots = bounds(window, now)
    buckets = _fill(rows, start, width, slots)
    summaries = [summarize(b.latencies) for b in buckets]
    first = int(start.timestamp())
    return Series(
        x=[first + i * width for i in range(slots)],
        raised=[b.raised for b in buckets],
        answered_human=[b.human for b in buckets],
        answered_router=[b.router for b in buckets],
        p50_s=[s.p50 for s in summaries],
        p90_s=[s.p90 for s in summaries],
    )


def answer_split(rows: Iterable[Any]) -> dict[str, int]:
    """How many answers people gave and how many the router gave."""
    counts: dict[str, int] = defaultdict(int, {"human": 0, "router": 0})
    for row in rows:
        if (who := answered_by(row)) is not None:
            counts[who] += 1
    return dict(counts)


def rows_in(engine: sa.Engine, since: datetime) -> list[Any]:
    """The tasks raised or answered at or after ``since``: the columns the series reads."""
    query = sa.select(*SERIES_COLUMNS).where(
        sa.or_(Task.raised_at >= since, Task.resolved_at >= since)
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


# --- from the rollups -----------------------------------------------------------------------


def from_rollups(conn: sa.Connection, *, now: datetime, window: str) -> Series:
    """The window's series from the rollups, once per version of them and window start."""
    start = window_start(window, now)
    return figures.cached(conn, ("series", window, start), lambda: kept_series(conn, now, window))


RowKey = tuple[str, datetime, str]  # measure, bucket, answered_by
Rows = dict[RowKey, tuple[int, Bins]]


@dataclass(frozen=True)
class _Kept:
    """A window's total rows as read at ``version``, and the series they give."""

    version: int
    epoch: str | None
    start: datetime
    rows: Rows
    series: Series


_kept: dict[tuple[str, str], _Kept] = {}  # (database, window): one window start each
_lock = threading.Lock()
KEPT_WINDOWS: Final = 64  # databases x windows; a few hundred rows each
stats = {"full": 0, "patched": 0}  # how series were read (tests, bench)


def kept_series(conn: sa.Connection, now: datetime, window: str) -> Series:
    """The window's series from its rows, kept between versions of the rollups: every row
    the first time; after that only the rows changed since the version kept (``changed_in``,
    as ``services.api.rollup_kept`` does for sums), and the percentiles again only for the
    buckets they fall in. The version is read before the rows: a row committed in between
    is read again next time, and replaced, never added twice."""
    shape = bounds(window, now)
    start, width, _ = shape
    version, epoch = stamp(conn)
    where = (str(conn.engine.url), window)
    with _lock:
        kept = _kept.get(where)
    if kept is not None and (kept.start, kept.epoch) == (start, epoch) and kept.version <= version:
        stats["patched"] += 1
        changed = _rows(conn, shape, after=kept.version)
        rows = {**kept.rows, **changed}
        dirty = {_slot(bucket, start, width) for _, bucket, _ in changed}
        made = _series(rows, shape, kept.series, dirty)
    else:
        stats["full"] += 1
        rows = _rows(conn, shape)
        made = _series(rows, shape)
    with _lock:
        was = _kept.get(where)
        if was is None or was.start != start or was.epoch != epoch or was.version <= version:
            if len(_kept) >= KEPT_WINDOWS and where not in _kept:
                _kept.pop(next(iter(_kept)))
            _kept[where] = _Kept(version, epoch, start, rows, made)
    return made


def forget() -> None:
    """Keep nothing (tests; the bench's cold reads)."""
    with _lock:
        _kept.clear()


Shape = tuple[datetime, int, int]  # first bucket start, bucket width (s), bucket count


def _rows(conn: sa.Connection, shape: Shape, after: int | None = None) -> Rows:
    """The totals' rows (tasks raised, answers) in the window; changed after ``after``."""
    start, width, slots = shape
    grain = DAY if width % 86400 == 0 else HOUR
    r = ROLLUPS.c
    query = sa.select(r.measure, r.bucket, r.answered_by, r.n, r.bins).where(
        r.grain == grain,
        r.measure.in_((TASKS, TASK_ANSWERED)),
        r.bucket >= start,
        r.bucket < start + timedelta(seconds=width * slots),
        r.department == ANY,
        r.team == ANY,
    )
    if after is not None:
        query = query.where(r.changed_in > after)
    found: Rows = {}
    for measure, bucket, by, n, text in conn.execute(query):
        bins = decode_bins(text) if measure == TASK_ANSWERED else {}
        found[(str(measure), bucket, str(by))] = (int(n), bins)  # UtcDateTime: aware
    return found


def _series(
    rows: Rows, shape: Shape, was: Series | None = None, dirty: set[int] | None = None
) -> Series:
    """The series of ``rows``: counts summed again (a few hundred integers), percentiles only
    for the ``dirty`` buckets when the series ``was`` is given."""
    start, width, slots = shape
    raised, human, router = [0] * slots, [0] * slots, [0] * slots
    bins: list[Bins] = [{} for _ in range(slots)]
    for (measure, bucket, by), (n, found) in rows.items():
        slot = _slot(bucket, start, width)
        if not 0 <= slot < slots:
            continue
        if measure == TASKS:
            raised[slot] += n
            continue
        (router if by == ROUTER else human)[slot] += n
        if was is None or slot in (dirty or ()):
            for index, (count, total) in found.items():
                add_bin(bins[slot], index, count, total)
    none: list[float | None] = [None] * slots
    p50, p90 = (list(was.p50_s), list(was.p90_s)) if was is not None else (none, list(none))
    for slot in range(slots) if was is None else (dirty or set()) & set(range(slots)):
        summary = summarize_bins(bins[slot])
        p50[slot], p90[slot] = summary.p50, summary.p90
    first = int(start.timestamp())
    return Series(
        x=[first + i * width for i in range(slots)],
        raised=raised,
        answered_human=human,
        answered_router=router,
        p50_s=p50,
        p90_s=p90,
    )


def answers_of(conn: sa.Connection, *, since: datetime, department: str) -> dict[str, int]:
    """How many of ``department``'s tasks people and the router answered since ``since``."""
    window = Window(since=since, department=department)
    sums = figures.cached(
        conn, ("answers", since, department), lambda: read_rollups(conn, (TASK_ANSWERED,), window)
    )
    counts = {"human": 0, "router": 0}
    for (_, _, team, by), delta in sums.items():
        if team != ANY:
            counts["router" if by == ROUTER else "human"] += delta.n
    return counts
