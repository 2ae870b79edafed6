"""Scenario 4, short (issue 10): the API killed twice mid-projection, PostgreSQL restarted.

The API runs as a process on a PostgreSQL of the test's own (it is restarted);
``task.routed`` events go straight onto the session broker's ``handoff.routed``.
After both kills every task is in the database exactly once; after PostgreSQL's
restart (an immediate stop: a crash) the same API process projects again.
``make chaos`` runs five kills over 20,000 events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import api_kills

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]


def test_api_kill_9_and_a_postgresql_restart_project_every_task_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    killed, restarted = api_kills.run(
        kafka_bootstrap, tmp_path, events=1_500, kills=2, pg_events=500
    )
    print(f"\n{killed.cells()}\n{restarted.cells()}")
    for row in (killed, restarted):
        assert row.problems == []
        assert row.accepted == row.sent
        assert row.routed == row.accepted, "tasks projected"
        assert row.lost == 0
        assert row.duplicated == 0
    assert len(killed.recovery) == 2
