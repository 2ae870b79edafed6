"""A running SLA clock moved to new deadlines: the task's terms changed.

When a more urgent request joins a task, or a request's priority changes,
the task follows new terms (``services.core.terms``). Its clock then runs to
the new deadlines and carries the updated routing: a new generation, so the
signals of the old deadlines no longer count and those of the new ones are
sent once. A clock that is closed or has not started is left as it is (the
update of a closed task changes no deadline anyone waits on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from services.core.clock import ClockState, Running, SignalsReset, Step
from services.core.sla import SlaClocks


@dataclass(frozen=True)
class Retime:
    """The task's clocks from now on, and the ``task.routed`` (JSON) that announced them."""

    task_id: str
    clocks: SlaClocks
    routed: Mapping[str, Any]


def retime(state: ClockState | None, event: Retime) -> Step:
    """The clock after ``event``, and what to send because of it."""
    if not isinstance(state, Running):
        return Step(state)
    clock = state.clock
    if clock.clocks == event.clocks:
        return Step(Running(replace(clock, routed=event.routed)))  # a replay, or no change
    fresh = replace(
        clock, clocks=event.clocks, routed=event.routed, already=(), generation=clock.generation + 1
    )
    return Step(Running(fresh), (SignalsReset(clock.task_id),))
