"""Issue 16.5: a breach that escalates hands the task's clock (and its group and accounts)
to the escalation team, once; anything else steps as before."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.core.clock import ClockInput, Emitted, Running, ToAccount, ToGroup, step
from services.core.escalation import step_escalating
from services.core.grouping import TaskHanded
from tests.unit.services.core.test_clock import CLOCK, EMITTED, RULES, STOP_ACK

BREACH = Emitted("t1", "sla.breached:acknowledge", 0)


def test_an_escalating_breach_hands_the_clock_to_the_escalation_team() -> None:
    new, effects = step_escalating(Running(CLOCK), BREACH, RULES)
    assert isinstance(new, Running)
    assert (new.clock.team, new.clock.escalate_to) == ("oncall", None)
    assert "sla.breached:acknowledge" in new.clock.already
    handed = TaskHanded("t1", "oncall")
    assert effects == (ToGroup("g1", handed), ToAccount("acme", handed))


def test_a_recorded_breach_recorded_again_hands_nothing_over() -> None:
    once, _ = step_escalating(Running(CLOCK), BREACH, RULES)
    assert step_escalating(once, BREACH, RULES) == step(once, BREACH, RULES)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (Running(CLOCK), EMITTED),  # an at-risk signal
        (Running(replace(CLOCK, escalate_to=None)), BREACH),  # nobody to escalate to
        (Running(CLOCK), replace(BREACH, generation=1)),  # a signal of older clocks
        (Running(CLOCK), STOP_ACK),
        (None, BREACH),
    ],
)
def test_anything_else_steps_as_the_clock_does(state: Running | None, event: ClockInput) -> None:
    assert step_escalating(state, event, RULES) == step(state, event, RULES)
