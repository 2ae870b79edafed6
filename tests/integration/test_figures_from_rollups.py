"""Issue 12 at a million tasks: the overview's charts, SLA standing and past-deadline counts
read from the rollups and the active tasks' index equal what a scan of the task rows says.

On SQLite and PostgreSQL: tasks seeded over five weeks (people's answers and the router's,
open ones past, near and before their deadlines), the rollups built by the production
rebuild (which tests/unit/services/api/test_rollups_consistency.py proves equal to the
rollups kept a write at a time). The references are the scans the reads replaced:
``series.series`` over ``series.rows_in`` (the charts), the Prometheus collector's query
(the SLA standing) and the past-deadline query as it was before the partial index.

The charts read the totals kept per bucket (department and team ``*``, migration 0013), the
per-key figures leave those rows out (never counted twice), and migration 0013 fills the
totals and re-encodes the bins of an existing database (and back on downgrade).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.api import deadlines, figures, rollups
from services.api.dashboard import series
from services.api.db import downgrade, make_engine, upgrade
from services.api.lifecycle import ACTIVE
from services.api.metrics import RollupCollector
from services.api.models import ROLLUPS, TASKS
from services.api.models.rollups import ACTIVE_STATES, DAY, HOUR
from services.api.rollup_reads import Window, _exact, read_rollups, spans
from services.api.rollups import decode_bins, rebuild
from services.api.tally import ANSWERED, ANY, FEEDBACK, REQUESTS, ROUTER, TEAM
from services.api.tally import TASKS as TASK_COUNT
from services.core.departments import asking_department
from services.core.stats import GROWTH

NOW = datetime(2026, 11, 30, 13, 37, 12, tzinfo=UTC)
SOURCES = ("/sources/zendesk", "/sources/salesforce", "/sources/support", "/sources/sales")
TEAMS = ("billing-ui", "planning", "payments")
EXACT_LATENCIES = (60.0, 600.0, 3600.0, 7200.0, 86400.0)  # one distinct value a bin


def task(n: int, rng: random.Random, latency: float | None) -> dict[str, Any]:
    """One task raised in the five weeks before NOW: answered by people (``latency``), by
    the router at once (resolved when routed), or open (``latency`` None)."""
    raised = NOW - timedelta(seconds=rng.randrange(35 * 86400))
    by_router = latency is not None and rng.random() < 0.15
    routed = raised + timedelta(seconds=3 if by_router else 2)
    resolved = routed if by_router else raised + timedelta(seconds=latency) if latency else None
    source = SOURCES[n % len(SOURCES)]
    return {
        "task_id": f"t-{n:05d}", "source_event_id": f"e-{n:05d}", "source": source,
        "team": TEAMS[n % len(TEAMS)], "rule": "/0", "account": "example.co.jp",
        "priority": "normal", "subject": "s", "description": "d",
        "requester_email": "a@example.co.jp",
        "state": "resolved" if resolved else rng.choice(sorted(ACTIVE)),
        "raised_at": raised, "routed_at": routed, "projected_at": routed,
        "sla_due": raised + timedelta(hours=rng.choice((1, 4, 8, 24, 72))),
        "resolve_by": rng.choice((None, raised + timedelta(days=3))),
        "resolved_at": resolved,
        "answered_by": (ROUTER if by_router else TEAM) if resolved else None,
        "feedback_latency_s": (resolved - raised).total_seconds() if resolved else None,
        "acknowledged_at": rng.choice((None, raised + timedelta(minutes=5))),
        "department": asking_department(source), "version": 1, "event_count": 1,
    }  # fmt: skip


def seeded(engine: sa.Engine, latencies: list[float | None], seed: int = 12) -> None:
    rng = random.Random(seed)
    rows = [task(n, rng, latency) for n, latency in enumerate(latencies)]
    with engine.begin() as conn:
        conn.execute(TASKS.insert(), rows)
        rebuild(conn)


def exact_mix(count: int) -> list[float | None]:
    rng = random.Random(5)
    return [rng.choice((*EXACT_LATENCIES, None)) for _ in range(count)]


def random_mix(count: int) -> list[float | None]:
    rng = random.Random(7)
    return [rng.uniform(1, 5 * 86400) if rng.random() < 0.8 else None for _ in range(count)]


# --- windows: whole days, whole hours, partial hours -----------------------------------------

D = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_window_reads_whole_days_from_day_rows_and_the_hours_around_them() -> None:
    h = timedelta(hours=1)
    assert spans(D + 5 * h, D + 3 * 24 * h + 2 * h) == [
        (HOUR, D + 5 * h, D + 24 * h),
        (DAY, D + 24 * h, D + 3 * 24 * h),
        (HOUR, D + 3 * 24 * h, D + 3 * 24 * h + 2 * h),
    ]
    assert spans(D + 5 * h, D + 20 * h) == [(HOUR, D + 5 * h, D + 20 * h)]
    assert spans(D, D + 48 * h) == [(DAY, D, D + 48 * h)]
    assert spans(D + h, None) == [(HOUR, D + h, D + 24 * h), (DAY, D + 24 * h, None)]
    assert spans(None, D + 30 * h) == [(DAY, None, D + 24 * h), (HOUR, D + 24 * h, D + 30 * h)]


def test_windows_read_from_rollups_equal_the_task_rows_to_the_second(engine: sa.Engine) -> None:
    """Days, hours and partial hours (at either end) add up to what the task rows say."""
    seeded(engine, exact_mix(1200))
    measures = (TASK_COUNT, REQUESTS, FEEDBACK, ANSWERED)
    start, end = NOW - timedelta(days=40), NOW + timedelta(days=10)
    windows = [
        Window(NOW - timedelta(days=9, seconds=17), NOW - timedelta(days=1, minutes=3)),
        Window(NOW - timedelta(days=2, hours=3), NOW - timedelta(hours=20), team="planning"),
        Window(NOW - timedelta(hours=30), None, department="support"),
        Window(None, NOW - timedelta(days=4, seconds=1)),
    ]
    with engine.connect() as conn:
        for window in windows:
            ours = read_rollups(conn, measures, window)
            exact = _exact(conn, measures, window, window.since or start, window.until or end)
            assert {k: (d.n, d.summary()) for k, d in ours.items() if d.n} == {
                k: (d.n, d.summary()) for k, d in exact.items()
            }, window
            assert sum(d.n for d in exact.values()) > 20


# --- the charts -----------------------------------------------------------------------------


def from_rows(engine: sa.Engine, window: str) -> series.Series:
    return series.series(
        series.rows_in(engine, series.window_start(window, NOW)), now=NOW, window=window
    )


def from_rollups(engine: sa.Engine, window: str) -> series.Series:
    with engine.connect() as conn:
        return series.from_rollups(conn, now=NOW, window=window)


@pytest.mark.parametrize("window", sorted(series.WINDOWS))
def test_the_charts_from_rollups_equal_the_charts_from_task_rows(
    engine: sa.Engine, window: str
) -> None:
    """Latencies one distinct value a bin: every bucket, count and percentile, equal."""
    seeded(engine, exact_mix(1500))
    ours, theirs = from_rollups(engine, window), from_rows(engine, window)
    assert ours == theirs
    assert sum(ours.raised) > 40
    assert sum(ours.answered_router) > 5
    assert sum(ours.answered_human) > 5
    assert any(p is not None for p in ours.p90_s)


def test_chart_percentiles_stay_within_the_bins_bound(engine: sa.Engine) -> None:
    """Any latencies: the counts equal, each percentile within 1.01 % of the exact one."""
    seeded(engine, random_mix(1500))
    for window in series.WINDOWS:
        ours, theirs = from_rollups(engine, window), from_rows(engine, window)
        assert (ours.x, ours.raised) == (theirs.x, theirs.raised)
        assert (ours.answered_human, ours.answered_router) == (
            theirs.answered_human,
            theirs.answered_router,
        )
        for got, exact in zip(ours.p50_s + ours.p90_s, theirs.p50_s + theirs.p90_s, strict=True):
            assert (got is None) == (exact is None)
            if got is not None and exact is not None:
                assert math.isclose(got, exact, rel_tol=GROWTH - 1 + 1e-9), (window, got, exact)


def test_the_sales_answers_equal_the_task_rows(engine: sa.Engine) -> None:
    seeded(engine, exact_mix(800))
    since = series.window_start("30d", NOW)
    rows = [row for row in series.rows_in(engine, since) if row.department == "sales"]
    with engine.connect() as conn:
        ours = series.answers_of(conn, since=since, department="sales")
    assert ours == series.answer_split(rows)
    assert ours["human"]
    assert ours["router"]


# --- past deadlines and SLA standing ---------------------------------------------------------


def overdue_by_scan(conn: sa.Connection, now: datetime, window: Window) -> dict[Any, Any]:
    """``deadlines.overdue`` as it was: the same query over every active task, no index."""
    t = TASKS.c
    deadline = sa.func.coalesce(t.resolve_by, t.sla_due)
    ack = sa.func.sum(sa.case((sa.and_(t.acknowledged_at.is_(None), t.sla_due <= now), 1), else_=0))
    res = sa.func.sum(sa.case((deadline <= now, 1), else_=0))
    query = (
        sa.select(t.department, t.source, t.team, t.answered_by, ack, res)
        .where(t.state.in_(sorted(ACTIVE)), t.sla_due <= now, *deadlines.task_filters(window))
        .group_by(t.department, t.source, t.team, t.answered_by)
    )
    out: dict[Any, tuple[int, int]] = {}
    for department, source, team, by, acks, resolves in conn.execute(query):
        key = (department or asking_department(source), team, ROUTER if by == ROUTER else TEAM)
        was = out.get(key, (0, 0))
        out[key] = (was[0] + int(acks or 0), was[1] + int(resolves or 0))
    return {key: value for key, value in out.items() if value != (0, 0)}


WINDOWS = (
    Window(),
    Window(since=NOW - timedelta(days=7)),
    Window(
        since=NOW - timedelta(days=3, minutes=7), until=NOW - timedelta(hours=5), team="planning"
    ),
    Window(department="sales"),
)


def test_past_deadline_counts_equal_the_scan(engine: sa.Engine) -> None:
    seeded(engine, random_mix(1500))
    with engine.connect() as conn:
        for now in (NOW, NOW - timedelta(days=2), NOW + timedelta(hours=5)):
            for window in WINDOWS:
                ours = deadlines.overdue(conn, now, window)
                assert ours == overdue_by_scan(conn, now, window), (now, window)
        assert deadlines.overdue(conn, NOW, Window())  # not a trivial set


def test_sla_standing_equals_the_collectors_scan_as_time_goes_by(engine: sa.Engine) -> None:
    """Kept until the next task crosses a line: at every moment what a scan says."""
    seeded(engine, random_mix(1500))
    moments = [NOW + timedelta(minutes=m) for m in (0, 1, 7, 30, 59, 61, 125, 600, 3000)]
    with engine.connect() as conn:
        for now in moments:
            scan = RollupCollector(engine, clock=lambda now=now: now).read()[0]
            assert figures.sla_standing(conn, now=now) == scan, now
            assert any(sla == "breached" for _, sla in scan)


def test_the_index_predicate_names_the_lifecycles_active_states() -> None:
    assert tuple(sorted(ACTIVE)) == ACTIVE_STATES


# --- migration 0010 ----------------------------------------------------------------------------


# the columns of the rows as migrations before 0014 (which adds ``changed_in``) have them
BEFORE_0014 = sa.select(*(column for column in ROLLUPS.c if column.name != "changed_in"))


def day_rows(engine: sa.Engine) -> dict[tuple[Any, ...], tuple[int, dict[int, tuple[int, float]]]]:
    r = ROLLUPS.c
    with engine.connect() as conn:
        rows = conn.execute(BEFORE_0014.where(r.grain == DAY)).all()
    return {tuple(row[:6]): (row.n, decode_bins(row.bins)) for row in rows}


def test_migration_0010_fills_the_day_rows_from_the_hours(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        seeded(engine, random_mix(600))
        rebuilt = day_rows(engine)
        with engine.connect() as conn:
            was = rollups.version(conn)
        downgrade(database_url, "0009")
        assert day_rows(engine) == {}
        upgrade(database_url)
        filled = day_rows(engine)
        with engine.connect() as conn:
            assert rollups.version(conn) > was  # a reader's cache knows it is stale
    finally:
        engine.dispose()
    assert len(rebuilt) > 100
    assert filled.keys() == rebuilt.keys()
    for key, (n, bins) in filled.items():
        assert n == rebuilt[key][0], key
        assert bins.keys() == rebuilt[key][1].keys(), key
        for index, (count, total) in bins.items():
            assert count == rebuilt[key][1][index][0]
            assert math.isclose(total, rebuilt[key][1][index][1], abs_tol=1e-4)


# --- the totals (migration 0013) -------------------------------------------------------------


def totals_and_bins(engine: sa.Engine) -> tuple[dict[Any, int], dict[Any, Any], list[str]]:
    """The totals of tasks raised; every row's bins decoded; every row's bins as stored."""
    r = ROLLUPS.c
    with engine.connect() as conn:
        rows = conn.execute(BEFORE_0014.where(r.grain != "version")).all()
    found = {tuple(row[:6]): row.n for row in rows if row.measure == TASK_COUNT}
    totals = {key: n for key, n in found.items() if key[3] == key[4] == ANY}
    bins = {tuple(row[:6]): (row.n, decode_bins(row.bins)) for row in rows}
    return totals, bins, [row.bins for row in rows if row.bins]


def test_per_key_figures_leave_the_totals_out(engine: sa.Engine) -> None:
    """Tasks counted once: the figures and who-waits sum to the task rows, no ``*`` key."""
    seeded(engine, random_mix(800))
    since = series.window_start("7d", NOW)
    with engine.connect() as conn:
        raised = conn.scalar(sa.select(sa.func.count()).where(TASKS.c.raised_at >= since))
        groups = figures.figures(conn, now=NOW, since=since)
        pairs = figures.who_waits(conn, since=since)
        together = figures.window_figures(conn, now=NOW, since=since)
        everything = figures.figures(conn, now=NOW)
    assert sum(g.tasks for g in groups) == raised > 50
    assert sum(g.tasks for g in everything) == 800
    assert ANY not in {g.department for g in groups} | {g.team for g in groups}
    assert ANY not in {p.department for p in pairs} | {p.team for p in pairs}
    assert together == (groups, pairs)


def test_migration_0013_fills_the_totals_and_recodes_the_bins(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        seeded(engine, random_mix(600))
        charts = {window: from_rollups(engine, window) for window in series.WINDOWS}
        rebuilt, bins, stored = totals_and_bins(engine)
        with engine.connect() as conn:
            was = rollups.version(conn)
        downgrade(database_url, "0012")
        gone, older, nested = totals_and_bins(engine)
        upgrade(database_url)
        filled, recoded, flat = totals_and_bins(engine)
        with engine.connect() as conn:
            assert rollups.version(conn) == was + 2  # a reader's cache knows it is stale
        assert {window: from_rollups(engine, window) for window in series.WINDOWS} == charts
    finally:
        engine.dispose()
    assert len(rebuilt) > 100
    assert {key[0] for key in rebuilt} == {"hour", "day", "all"}
    assert gone == {}
    assert filled == rebuilt
    assert all(text.startswith("[") for text in stored + flat)
    assert all(text.startswith("{") for text in nested)
    assert older == {k: v for k, v in bins.items() if k[2] != TASK_COUNT or k[3] != ANY}
    assert recoded == bins
