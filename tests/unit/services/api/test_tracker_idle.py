"""``tracker consume`` / ``tracker apply`` with an idle limit stop only after that long idle
*with partitions assigned*: joining the group can take seconds on a busy broker, and a run
that gave up before it had any partition would hand nothing over and report success."""

from __future__ import annotations

import time
from typing import Any

from services.api import tracker, tracker_apply

JOINING_S = 0.4
IDLE_S = 0.1


class JoiningConsumer:
    """No partitions for ``JOINING_S``, then one, never a record."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.polls = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.polls += 1
        time.sleep(0.01)
        return {}

    def assignment(self) -> set[str]:
        joined = time.monotonic() - self.started >= JOINING_S
        return {"handoff.tracker-0"} if joined else set()


def test_tracker_consume_is_not_idle_while_it_joins() -> None:
    consumer = JoiningConsumer()
    config = tracker.TrackerConfig("127.0.0.1:9", "billing", "g", idle_exit_s=IDLE_S)
    started = time.monotonic()
    assert tracker._loop(consumer, config, None, None) == 0  # type: ignore[arg-type]
    assert time.monotonic() - started >= JOINING_S  # without the fix: about IDLE_S


def test_tracker_apply_is_not_idle_while_it_joins() -> None:
    consumer = JoiningConsumer()
    config = tracker_apply.ApplyConfig("127.0.0.1:9", group_id="g", idle_exit_s=IDLE_S)
    started = time.monotonic()
    assert tracker_apply._loop(consumer, config, None, None) == 0  # type: ignore[arg-type]
    assert time.monotonic() - started >= JOINING_S  # without the fix: about IDLE_S
