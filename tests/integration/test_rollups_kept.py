"""Window sums kept between versions of the rollups and patched by the keys that changed
(``services.api.rollup_kept``, migration 0014), and the charts' rows patched by the rows
that changed (``series.kept_series``), on SQLite and PostgreSQL.

After real writes (the writers' own ``tallied``: resolves, new tasks) a patched read must
equal a read of every row; after a rebuild (a new epoch) nothing kept is patched."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.api import rollup_kept
from services.api.dashboard import series
from services.api.figures import sla_standing
from services.api.lifecycle import ACTIVE
from services.api.models import TASKS
from services.api.rollup_reads import Sums, Window, read_rollups
from services.api.rollups import rebuild, stamp, tallied
from services.api.tally import ANSWERED, FEEDBACK, OPEN, TEAM
from services.api.tally import TASKS as TASK_COUNT
from tests.integration.test_figures_from_rollups import NOW, random_mix, seeded, task

MEASURES = (TASK_COUNT, FEEDBACK, ANSWERED, OPEN)
WINDOWS = (
    Window(NOW - timedelta(days=7)),  # whole hours and days, open-ended: the overview's
    Window(NOW - timedelta(days=30), team="planning"),
    Window(NOW - timedelta(days=2, hours=3, seconds=5), NOW - timedelta(hours=20)),  # edges
    Window(NOW - timedelta(days=9), department="support"),
    Window(),  # all time: one row a key, percentiles kept with it
)


def reads(engine: sa.Engine) -> dict[Window, Sums]:
    with engine.connect() as conn:
        return {window: read_rollups(conn, MEASURES, window) for window in WINDOWS}


def same(ours: Sums, theirs: Sums) -> bool:
    """Equal counts and bins; latency sums equal up to the order they were added in."""
    if ours.keys() != theirs.keys():
        return False
    for key, delta in ours.items():
        other = theirs[key]
        if delta.n != other.n or delta.bins.keys() != other.bins.keys():
            return False
        for index, (count, total) in delta.bins.items():
            if count != other.bins[index][0]:
                return False
            if not math.isclose(total, other.bins[index][1], rel_tol=1e-9, abs_tol=1e-6):
                return False
    return True


def change(engine: sa.Engine, rng: random.Random, added: int) -> None:
    """Resolve a few open tasks and add new ones, each through the writers' ``tallied``."""
    with engine.begin() as conn:
        open_ids = sorted(conn.scalars(sa.select(TASKS.c.task_id).where(TASKS.c.state == "open")))
    for task_id in rng.sample(open_ids, 5):
        with engine.begin() as conn:
            raised = conn.scalar(sa.select(TASKS.c.raised_at).where(TASKS.c.task_id == task_id))
            resolved = raised + timedelta(hours=rng.uniform(1, 40))
            values: dict[str, Any] = {
                "state": "resolved", "resolved_at": resolved, "answered_by": TEAM,
                "feedback_latency_s": (resolved - raised).total_seconds(),
            }  # fmt: skip
            update = sa.update(TASKS).where(TASKS.c.task_id == task_id).values(values)
            tallied(conn, [task_id], lambda u=update: conn.execute(u))  # type: ignore[misc]
    for n in range(90_000, 90_000 + added):
        row = task(n, rng, rng.uniform(1, 86400))
        with engine.begin() as conn:
            tallied(conn, [row["task_id"]], lambda r=row: conn.execute(TASKS.insert(), r))  # type: ignore[misc]


def test_sums_patched_after_writes_equal_a_read_of_every_row(engine: sa.Engine) -> None:
    seeded(engine, random_mix(600))
    rollup_kept.forget()
    first = reads(engine)
    change(engine, random.Random(3), added=8)
    was = dict(rollup_kept.stats)
    patched = reads(engine)
    assert rollup_kept.stats["patched"] - was["patched"] >= len(WINDOWS)
    rollup_kept.forget()
    whole = reads(engine)
    for window in WINDOWS:
        assert same(patched[window], whole[window]), window
    assert any(not same(first[w], whole[w]) for w in WINDOWS)  # the writes are in the figures
    again = dict(rollup_kept.stats)
    assert reads(engine) == whole  # nothing changed since: the very sums, kept
    assert rollup_kept.stats["kept"] - again["kept"] >= len(WINDOWS)
    assert rollup_kept.stats["full"] == again["full"]


def add_task(engine: sa.Engine, n: int, raised: datetime) -> None:
    row = {
        **task(n, random.Random(n), None),
        **dict.fromkeys(("raised_at", "routed_at", "projected_at"), raised),
        "sla_due": raised + timedelta(hours=4),
        "resolve_by": None,
    }
    with engine.begin() as conn:
        tallied(conn, [row["task_id"]], lambda: conn.execute(TASKS.insert(), row))


def test_a_partial_hour_is_read_again_only_when_a_row_of_its_hour_changed(
    engine: sa.Engine,
) -> None:
    seeded(engine, random_mix(600))
    rollup_kept.forget()
    since = NOW - timedelta(days=3, minutes=17)  # 10:20:12: the edge is [since, 11:00)
    window = Window(since)

    def read() -> Sums:
        with engine.connect() as conn:
            return read_rollups(conn, MEASURES, window)

    read()
    was = dict(rollup_kept.stats)
    add_task(engine, 91_000, NOW - timedelta(days=1))  # another hour: the edge is kept
    kept = read()
    assert rollup_kept.stats["full"] == was["full"]
    add_task(engine, 91_001, since + timedelta(minutes=5))  # in the edge: read again
    again = read()
    assert rollup_kept.stats["full"] - was["full"] == 1
    rollup_kept.forget()
    whole = read()
    assert same(again, whole)
    assert not same(kept, whole)  # the new task in the edge counts
    assert raised(whole) == raised(kept) + 1


def raised(sums: Sums) -> int:
    """Tasks raised in the window, per key (not the totals over every key the charts read)."""
    return sum(d.n for k, d in sums.items() if k[0] == TASK_COUNT and k[1] != "*")


def closed_and_rebuilt(engine: sa.Engine) -> None:
    """Every active task closed behind the writers' back, then the rollups rebuilt."""
    with engine.begin() as conn:
        active = TASKS.c.state.in_(sorted(ACTIVE))
        conn.execute(sa.update(TASKS).where(active).values(state="rejected"))
        rebuild(conn)  # rows rewritten without ``changed_in``: only the epoch says so


def test_a_rebuild_starts_a_new_epoch_and_nothing_kept_is_patched(engine: sa.Engine) -> None:
    seeded(engine, random_mix(300))
    rollup_kept.forget()
    reads(engine)
    closed_and_rebuilt(engine)
    was = dict(rollup_kept.stats)
    rebuilt = reads(engine)
    assert rollup_kept.stats["full"] - was["full"] >= len(WINDOWS)  # partial hours too
    assert rollup_kept.stats["patched"] == was["patched"]
    rollup_kept.forget()
    assert all(same(rebuilt[w], s) for w, s in reads(engine).items())
    open_now = [d.n for s in rebuilt.values() for k, d in s.items() if k[0] == OPEN]
    assert sum(open_now) == 0  # what the rebuild counted, not the kept sums patched


def test_what_is_kept_stays_within_its_budget_least_recently_used_out(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(engine, random_mix(300))
    hour = NOW.replace(minute=0, second=0)  # whole hours: no partial hour kept beside them
    week, month = Window(hour - timedelta(days=7)), Window(hour - timedelta(days=30))
    sizes = []
    with engine.connect() as conn:
        for window in (week, month):
            rollup_kept.forget()
            read_rollups(conn, MEASURES, window)
            sizes.append(rollup_kept.kept_size())
        rollup_kept.forget()
        budget = max(sizes) + 1  # either window, never both
        monkeypatch.setattr(rollup_kept, "KEPT_BINS", budget)
        read_rollups(conn, MEASURES, week)
        read_rollups(conn, MEASURES, month)  # the week goes out
        assert rollup_kept.kept_size() == sizes[1]
        was = dict(rollup_kept.stats)
        read_rollups(conn, MEASURES, week)
    assert rollup_kept.stats["full"] - was["full"] == 1
    assert rollup_kept.kept_size() <= budget


def charts(engine: sa.Engine, now: datetime = NOW) -> dict[str, series.Series]:
    with engine.connect() as conn:
        return {w: series.kept_series(conn, now, w) for w in series.WINDOWS}


def same_chart(ours: series.Series, theirs: series.Series) -> bool:
    """Equal counts; percentiles equal up to the order the bins' sums were added in."""
    counts = ("x", "raised", "answered_human", "answered_router")
    if any(getattr(ours, name) != getattr(theirs, name) for name in counts):
        return False
    pairs = [
        *zip(ours.p50_s, theirs.p50_s, strict=True),
        *zip(ours.p90_s, theirs.p90_s, strict=True),
    ]
    return all(
        (a is None) == (b is None) and (a is None or b is None or math.isclose(a, b, rel_tol=1e-9))
        for a, b in pairs
    )


def test_chart_rows_patched_after_writes_equal_a_read_of_every_row(engine: sa.Engine) -> None:
    seeded(engine, random_mix(600))
    series.forget()
    first = charts(engine)
    change(engine, random.Random(5), added=12)
    was = dict(series.stats)
    patched = charts(engine)
    assert series.stats["patched"] - was["patched"] == len(series.WINDOWS)
    assert series.stats["full"] == was["full"]
    series.forget()
    whole = charts(engine)
    for window in series.WINDOWS:
        assert same_chart(patched[window], whole[window]), window
    assert any(not same_chart(first[w], whole[w]) for w in series.WINDOWS)  # the writes count


def test_chart_rows_are_read_whole_after_a_rebuild_or_when_the_window_moves(
    engine: sa.Engine,
) -> None:
    seeded(engine, random_mix(300))
    series.forget()
    charts(engine)
    closed_and_rebuilt(engine)
    was = dict(series.stats)
    rebuilt = charts(engine)
    assert series.stats["full"] - was["full"] == len(series.WINDOWS)
    later = charts(engine, NOW + timedelta(days=1))  # every window starts later
    assert series.stats["full"] - was["full"] == 2 * len(series.WINDOWS)
    series.forget()
    whole = charts(engine)
    for window in series.WINDOWS:
        assert same_chart(rebuilt[window], whole[window]), window
    assert later["24h"].x[0] == rebuilt["24h"].x[0] + 86400


def test_a_deadline_moved_with_no_rollup_row_changed_still_moves_the_version(
    engine: sa.Engine,
) -> None:
    """A priority change moves an open task's deadline; no rollup row counts deadlines of
    open tasks, yet the SLA standing kept for the old version would count it on time."""
    now = NOW
    add_task(engine, 92_000, now - timedelta(hours=1))  # due in 3 h: on time
    with engine.connect() as conn:
        was = sla_standing(conn, now=now)
        version = stamp(conn)[0]
    assert sum(n for (_, line), n in was.items() if line == "breached") == 0
    task_id = task(92_000, random.Random(92_000), None)["task_id"]
    due = (
        sa.update(TASKS).where(TASKS.c.task_id == task_id).values(sla_due=now - timedelta(hours=1))
    )
    with engine.begin() as conn:
        tallied(conn, [task_id], lambda: conn.execute(due))  # urgent now: due an hour ago
    with engine.connect() as conn:
        assert stamp(conn)[0] > version
        now_breached = sla_standing(conn, now=now)
    assert sum(n for (_, line), n in now_breached.items() if line == "breached") == 1
