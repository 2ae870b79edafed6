"""Scenario 1, short (issue 10): three router ``kill -9``s over 2,000 events.

Two workers in one group on the session's broker; the full run (ten kills over
20,000 events) is ``make chaos``. Nothing accepted is lost, no event is routed
under two task ids, the survivor owns a dead worker's partitions within the
bound the issue sets (15 s), and every partition routes again soon after.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import router_kills

TAKEOVER_BOUND_S = 15.0  # kill to the survivor owning every partition (the bound)
ROUTING_BOUND_S = 60.0  # kill to every partition routing again, backlog included (generous)


def test_router_kill_9_loses_nothing_and_the_survivor_takes_over(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    row = router_kills.run(kafka_bootstrap, tmp_path, events=2_000, kills=3)
    print(f"\n{row.cells()}")
    assert row.accepted == row.sent == 2_000
    assert row.lost == 0, row.problems
    assert row.routed == row.accepted
    assert row.duplicated == 0
    assert row.dlq == 0
    assert len(row.recovery) == 3
    assert row.worst_recovery <= TAKEOVER_BOUND_S, row.recovery
    assert max(row.resumed) <= ROUTING_BOUND_S, row.resumed
