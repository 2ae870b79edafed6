"""The figures' rollups, kept a write at a time, equal a rebuild from the task rows (SQLite).

``make demo`` showed a team with open -1 and open requests -45: a resolve committed
between the projector's "before" snapshot and its write of a priority update, so the
resolve was subtracted twice (by the API, and again in the projector's "after minus
before"). The property: whatever sequence of projector events and lifecycle actions a
task goes through, redeliveries included, the incremental rollups are what
``handoff stats rebuild`` computes, and no count is negative. PostgreSQL:
tests/integration/test_rollups_consistency.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.db import make_engine
from services.api.models import Base
from tests.rollup_model import Story, compare, negative, race_resolve

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


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """One database for every example: each adds its own task, and the sums must hold."""
    path: Path = tmp_path_factory.mktemp("rollups") / "handoff.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=12))
def test_incremental_rollups_equal_a_rebuild(shared_engine: sa.Engine, steps: list[str]) -> None:
    story = Story(shared_engine, name=f"zd-{next(NAMES)}")
    story.route()
    for step in steps:
        STEPS[step](story)
    incremental, rebuilt = compare(shared_engine)
    assert incremental == rebuilt
    assert negative(incremental) == {}


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
