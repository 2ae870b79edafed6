"""The active tasks' deadlines kept between versions of the rollups and patched by the tasks
changed since (``services.api.active_kept``, migration 0015), on SQLite and PostgreSQL.

After the writers' own changes (``tallied``: acknowledged, resolved, handed to another
team, a deadline moved, new tasks) the past-deadline counts and the SLA standing read from
the patched tasks must equal a scan of every active task, at several moments and windows;
and the patch, not a full read, must have served them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.api import active_kept, deadlines
from services.api.metrics import RollupCollector
from services.api.models import TASKS
from services.api.rollup_reads import Window
from services.api.rollups import rebuild, stamp, tallied
from tests.integration.test_figures_from_rollups import (
    NOW,
    WINDOWS,
    overdue_by_scan,
    random_mix,
    seeded,
    task,
)

MOMENTS = (NOW, NOW - timedelta(days=2), NOW + timedelta(minutes=50), NOW + timedelta(hours=5))


def write(engine: sa.Engine, task_id: str, values: dict[str, Any]) -> None:
    """One task changed through the writers' ``tallied``, in its own transaction."""
    with engine.begin() as conn:
        update = sa.update(TASKS).where(TASKS.c.task_id == task_id).values(values)
        tallied(conn, [task_id], lambda: conn.execute(update))


def changed(engine: sa.Engine, rng: random.Random) -> None:
    with engine.connect() as conn:
        active = sorted(
            conn.scalars(sa.select(TASKS.c.task_id).where(TASKS.c.resolved_at.is_(None)))
        )
    picked = rng.sample(active, 12)
    for task_id in picked[:3]:
        write(engine, task_id, {"state": "acknowledged", "acknowledged_at": NOW})
    for task_id in picked[3:6]:
        write(engine, task_id, {"state": "resolved", "resolved_at": NOW, "answered_by": "team"})
    for task_id in picked[6:8]:  # to another team, due again from now
        write(engine, task_id, {"team": "payments-ops", "state": "reassigned", "sla_due": NOW})
    for task_id, due in zip(picked[8:12], (-60, 30, 90, 6000), strict=True):  # priority moved
        write(engine, task_id, {"sla_due": NOW + timedelta(minutes=due), "resolve_by": None})
    for n in range(95_000, 95_004):
        row = task(n, rng, None)  # open, raised in the last five weeks
        with engine.begin() as conn:
            tallied(conn, [row["task_id"]], lambda r=row: conn.execute(TASKS.insert(), r))  # type: ignore[misc]


def standing_by_scan(engine: sa.Engine, now: datetime) -> dict[tuple[str, str], int]:
    return RollupCollector(engine, clock=lambda: now).read()[0]


def test_counts_patched_after_writes_equal_a_scan_of_every_active_task(
    engine: sa.Engine,
) -> None:
    seeded(engine, random_mix(1200))
    active_kept.forget()
    with engine.connect() as conn:
        before = {now: deadlines.overdue(conn, now, Window()) for now in MOMENTS}
        version = stamp(conn)[0]
    changed(engine, random.Random(4))
    was = dict(active_kept.stats)
    with engine.connect() as conn:
        assert stamp(conn)[0] > version
        for now in MOMENTS:
            for window in WINDOWS:
                assert deadlines.overdue(conn, now, window) == overdue_by_scan(conn, now, window)
            assert deadlines.standing(conn, now, deadlines.AT_RISK) == standing_by_scan(engine, now)
        after = {now: deadlines.overdue(conn, now, Window()) for now in MOMENTS}
    assert after != before  # the writes are in the counts
    assert active_kept.stats["patched"] - was["patched"] == 1  # then kept at that version
    assert active_kept.stats["full"] == was["full"]
    assert active_kept.stats["kept"] > was["kept"]


def test_a_rebuild_reads_the_active_tasks_whole(engine: sa.Engine) -> None:
    seeded(engine, random_mix(300))
    active_kept.forget()
    with engine.connect() as conn:
        first = deadlines.overdue(conn, NOW, Window())
    was = dict(active_kept.stats)
    with engine.begin() as conn:
        rebuild(conn)  # a new epoch: nothing kept is patched
    with engine.connect() as conn:
        assert deadlines.overdue(conn, NOW, Window()) == first
    assert active_kept.stats["full"] - was["full"] == 1
    assert active_kept.stats["patched"] == was["patched"]
