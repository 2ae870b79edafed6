"""A breach that escalates hands the task to the escalation team, in the router as in the API.

The timer sends the escalated ``task.routed`` (to the escalation team's topic and
to ``handoff.routed``) and then records the signal on the clock (``Emitted``).
Recording an escalating breach also moves the clock to that team, and tells the
task's group and accounts (``TaskHanded``): requests that join later go to the
team that now has the task, and a reassignment or a reopen starts from it, as
the API's queue shows it. Standard library only.
"""

from __future__ import annotations

from dataclasses import replace

from services.core.clock import (
    ClockInput,
    ClockState,
    Effect,
    Emitted,
    Rules,
    Running,
    Step,
    TaskClock,
    ToAccount,
    ToGroup,
    step,
)
from services.core.grouping import TaskHanded
from services.core.sla import BREACHED


def step_escalating(state: ClockState | None, event: ClockInput, rules: Rules) -> Step:
    """``services.core.clock.step``, and for an escalating breach recorded, the handover."""
    after = step(state, event, rules)
    if not (isinstance(event, Emitted) and _escalates(state, event)):
        return after
    assert isinstance(state, Running)
    assert isinstance(after.state, Running)
    return _handed_over(after, state.clock, rules)


def _escalates(state: ClockState | None, event: Emitted) -> bool:
    if not isinstance(state, Running) or event.generation != state.clock.generation:
        return False
    clock = state.clock
    first = event.key not in clock.already
    return first and event.key.startswith(f"{BREACHED}:") and clock.escalate_to is not None


def _handed_over(after: Step, before: TaskClock, rules: Rules) -> Step:
    assert isinstance(after.state, Running)
    team = before.escalate_to
    assert team is not None
    known = rules.teams.get(team)
    clock = replace(after.state.clock, team=team, escalate_to=known.escalate_to if known else None)
    return Step(Running(clock), (*after.effects, *_handed(before, team)))


def _handed(clock: TaskClock, team: str) -> list[Effect]:
    handed = TaskHanded(clock.task_id, team)
    to_group: list[Effect] = [ToGroup(clock.group_key, handed)] if clock.group_key else []
    return to_group + [ToAccount(account, handed) for account in clock.accounts]
