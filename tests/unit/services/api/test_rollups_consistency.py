"""The figures' rollups, kept a write at a time, equal a rebuild from the task rows (SQLite).

``make demo`` showed a team with open -1 and open requests -45: a resolve committed
between the projector's "before" snapshot and its write of a priority update, so the
resolve was subtracted twice (by the API, and again in the projector's "after minus
before"). The property: whatever sequence of projector events and lifecycle actions a
task goes through, redeliveries included, the incremental rollups are what
``handoff stats rebuild`` computes, and no count is negative. PostgreSQL:
tests/integration/test_rollups_consistency.py.

The day rows (issue 12: a week's window reads seven rows a key, not 168) are kept by the
same tally in the same transaction: stories start at 09:00, late in the evening (their
steps cross midnight) or the next morning, and every day row, counts and latency bins,
equals the rebuild's and the sum of its hours.

The totals (issue 12: the overview's charts read one row a bucket, not one a key): tasks
raised and answers kept with department and team ``*`` in the same transaction, equal to
the rebuild's and to the sum of their parts, every grain; the bins are stored as a flat
list and rows written before migration 0013 (an object per bin) still read the same.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.db import make_engine
from services.api.models import ROLLUPS, Base
from services.api.models.rollups import DAY, HOUR
from services.api.rollups import decode_bins, encode_bins, rebuild
from services.api.tally import ANSWERED, ANY, TASK_ANSWERED, TASKS, Delta, day_of
from tests.rollup_model import Rows, Story, compare, negative, race_resolve

STEPS: dict[str, Callable[[Story], str]] = {
    "route": Story.route,
    "join": Story.join,
    "reprioritize": lambda s: s.reprioritize("urgent", 1),
    "deprioritize": lambda s: s.reprioritize("normal", 24),
    "urgent request joins": lambda s: s.join() + s.reprioritize("urgent", 2, joined=True),
    "escalate": Story.escalate,
    "reroute": Story.reroute,
    "replay": Story.replay,
    "reassign": Story.reassign,
    "acknowledge": lambda s: s.act("acknowledge"),
    "start": lambda s: s.act("start"),
    "resolve": lambda s: s.act("resolve"),
    "reject": lambda s: s.act("reject"),
    "reopen": lambda s: s.act("reopen"),
}
NAMES = itertools.count(1)
STARTS = (0, 14 * 60 + 50, 24 * 60)  # minutes after 09:00: the morning, 23:50, the next day
Binned = dict[tuple[Any, ...], tuple[int, dict[int, tuple[int, float]]]]


def days_from_hours(rows: Rows) -> Rows:
    """Each key's hourly counts summed per UTC day: what its day rows must hold."""
    out: Rows = {}
    for (grain, bucket, *key), n in rows.items():
        if grain == HOUR:
            day = (DAY, day_of(bucket), *key)
            out[day] = out.get(day, 0) + n
    return {key: n for key, n in out.items() if n}


def totals_from_parts(rows: Rows) -> Rows:
    """What the totals must hold: each measure's rows per department x team summed per
    grain, bucket and answered_by (the rows per team, department ``*``, left out)."""
    out: Rows = {}
    for (grain, bucket, measure, department, team, by), n in rows.items():
        if measure in TOTALLED and ANY not in (department, team):
            total = (grain, bucket, measure, ANY, ANY, by)
            out[total] = out.get(total, 0) + n
    return out


def totals(rows: Rows) -> Rows:
    return {key: n for key, n in rows.items() if key[3] == ANY and key[4] == ANY}


TOTALLED = (TASKS, ANSWERED, TASK_ANSWERED)


def grain_of(rows: Rows, grain: str) -> Rows:
    return {key: n for key, n in rows.items() if key[0] == grain}


def binned(conn: sa.Connection) -> Binned:
    """Every hour and day row with its latency bins (``compare`` reads the counts only)."""
    r = ROLLUPS.c
    query = sa.select(*ROLLUPS.primary_key.columns, r.n, r.bins).where(r.grain.in_((HOUR, DAY)))
    return {tuple(row[:6]): (row.n, decode_bins(row.bins)) for row in conn.execute(query) if row.n}


def same_bins(ours: Binned, theirs: Binned) -> bool:
    """Equal counts; bin sums equal but for the last bits (floats added in another order)."""
    if ours.keys() != theirs.keys():
        return False
    for key, (n, bins) in ours.items():
        n2, bins2 = theirs[key]
        if n != n2 or bins.keys() != bins2.keys():
            return False
        for index, (count, total) in bins.items():
            if count != bins2[index][0] or not math.isclose(total, bins2[index][1], abs_tol=1e-5):
                return False
    return True


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """One database for every example: each adds its own task, and the sums must hold."""
    path: Path = tmp_path_factory.mktemp("rollups") / "handoff.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=12),
    start=st.sampled_from(STARTS),
)
def test_incremental_rollups_equal_a_rebuild(
    shared_engine: sa.Engine, steps: list[str], start: int
) -> None:
    story = Story(shared_engine, name=f"zd-{next(NAMES)}", minutes=start)
    story.route()
    for step in steps:
        STEPS[step](story)
    incremental, rebuilt = compare(shared_engine)
    assert incremental == rebuilt
    assert negative(incremental) == {}
    assert grain_of(incremental, DAY) == days_from_hours(incremental)
    assert grain_of(incremental, DAY)  # the day rows are there, not merely both empty
    assert totals(incremental) == totals_from_parts(incremental)
    assert {key[2] for key in totals(incremental)} >= {TASKS}  # every story raises a task


def test_day_rows_and_their_bins_equal_a_rebuild_across_midnight(tmp_path: Path) -> None:
    """Counts and latency bins, day rows and hour rows, kept a write at a time: a task
    raised at 23:50 and answered after midnight, another the next day, equal a rebuild."""
    engine = make_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(engine)
    for name, start in (("zd-late", STARTS[1]), ("zd-next", STARTS[2])):
        story = Story(engine, name=name, minutes=start)
        story.route()
        story.join()
        story.act("acknowledge")
        for _ in range(12):  # past midnight
            story.replay()
        assert story.act("resolve") == "resolved"
    with engine.connect() as conn:
        incremental = binned(conn)
        rebuild(conn)
        rebuilt = binned(conn)
        conn.rollback()
    engine.dispose()
    days = {key[1] for key in incremental if key[0] == DAY}
    assert len(days) == 2, days
    assert same_bins(incremental, rebuilt)


def test_updated_twice_then_resolved_counts_nothing_open(tmp_path: Path) -> None:
    """The demo's sequence, one step at a time: nothing open is left, nothing below zero."""
    engine = make_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(engine)
    story = Story(engine)
    story.route()
    story.join()
    story.reprioritize("urgent", 1)
    story.reprioritize("urgent", 2, joined=True)
    assert story.act("resolve") == "resolved"
    story.replay()
    incremental, rebuilt = compare(engine)
    engine.dispose()
    assert incremental == rebuilt
    assert [k for k in incremental if k[2] in ("open", "open_requests")] == []


def test_a_resolve_racing_a_projected_update_is_tallied_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(engine)
    story = Story(engine)
    story.route()
    story.join()
    assert race_resolve(story) == "resolved"
    incremental, rebuilt = compare(engine)
    engine.dispose()
    assert negative(incremental) == {}
    assert incremental == rebuilt


def test_totals_bins_are_the_sum_of_their_parts(tmp_path: Path) -> None:
    """The answers' totals carry the latency bins of every department and team's answers."""
    engine = make_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(engine)
    for name, start in (("zd-a", 0), ("zd-b", 30), ("zd-c", STARTS[1])):
        story = Story(engine, name=name, minutes=start)
        story.route()
        story.join()
        assert story.act("resolve") == "resolved"
    with engine.connect() as conn:
        rows = binned(conn)
    engine.dispose()
    parts: Binned = {}
    for (grain, bucket, measure, department, team, by), (n, bins) in rows.items():
        if measure == TASK_ANSWERED and ANY not in (department, team):
            total = (grain, bucket, measure, ANY, ANY, by)
            merged = Delta(*parts.get(total, (0, {})))
            merged.merge(Delta(n, bins))
            parts[total] = (merged.n, merged.bins)
    found = {k: v for k, v in rows.items() if k[2] == TASK_ANSWERED and k[3] == k[4] == ANY}
    assert found
    assert same_bins(found, parts)


def test_bins_are_a_flat_list_and_the_older_objects_still_read() -> None:
    """Migration 0013's encoding, and what rows written before it hold: the same bins."""
    bins = {-421: (4, 0.060287), 7: (1, 1.07), 1252: (2, 514083.037666)}
    text = encode_bins(Delta(7, dict(bins)))
    assert text == "[-421,4,0.060287,7,1,1.07,1252,2,514083.037666]"
    older = '{"-421": [4, 0.060287], "7": [1, 1.07], "1252": [2, 514083.037666]}'
    assert decode_bins(text) == decode_bins(older) == bins
    assert decode_bins(None) == {}
    assert encode_bins(Delta()) is None
