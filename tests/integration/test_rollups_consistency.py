"""The figures' rollups on PostgreSQL: kept a write at a time, they equal a rebuild.

The example of ``make demo`` (a task grown to a group, its priority changed twice, then
resolved, the last event redelivered) and the race that made it count -1 open: the API
resolving while the projector writes an update. Here the projector's "before" holds the
task's row (FOR UPDATE), so the resolve waits for it and is tallied once. The random
sequences run on SQLite: tests/unit/services/api/test_rollups_consistency.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from services.api.db import make_engine, upgrade
from tests.rollup_model import Story, compare, negative, race_resolve


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def test_a_story_of_updates_escalation_and_lifecycle_matches_a_rebuild(engine: sa.Engine) -> None:
    story = Story(engine)
    story.route()
    for _ in range(3):
        story.join()
    story.reprioritize("urgent", 1)
    story.reprioritize("urgent", 2, joined=True)
    assert story.act("acknowledge") == "acknowledged"
    story.escalate()
    assert story.reassign() == "reassigned"
    story.reroute()
    story.replay()
    assert story.act("resolve") == "resolved"
    story.replay()
    assert story.act("reopen") == "reopened"
    story.reroute()
    assert story.act("resolve") == "resolved"
    incremental, rebuilt = compare(engine)
    assert incremental == rebuilt
    assert negative(incremental) == {}
    assert [k for k in incremental if k[2] in ("open", "open_requests")] == []


def test_a_resolve_racing_a_projected_update_is_tallied_once(engine: sa.Engine) -> None:
    story = Story(engine)
    story.route()
    story.join()
    assert race_resolve(story) == "resolved"
    incremental, rebuilt = compare(engine)
    assert negative(incremental) == {}
    assert incremental == rebuilt
