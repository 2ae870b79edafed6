"""The SLA clock's transitions, table-driven: old state, input -> new state, effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.calendar import TWENTY_FOUR_SEVEN
from services.core.clock import (
    EARLY_STOP_KEPT,
    REASSIGNED,
    REOPENED,
    ClockInput,
    ClockState,
    Closed,
    Effect,
    Emitted,
    Forget,
    Reassign,
    Reopen,
    Rerouted,
    Running,
    Signal,
    SignalsReset,
    Start,
    Step,
    Stop,
    TaskClock,
    ToAccount,
    ToGroup,
    UnknownTeamError,
    Waiting,
    next_due,
    on_timer,
    step,
    with_routed,
)
from services.core.grouping import TaskClosed, TaskDropped, TaskHanded, TaskIndexed
from services.core.routing import Team
from services.core.sla import SlaPolicy

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=30)
WINDOW = timedelta(days=7)
URGENT = SlaPolicy("urgent", TWENTY_FOUR_SEVEN, timedelta(hours=1), timedelta(hours=8))
KEEP = replace(URGENT, name="keep", on_reassign="keep")


@dataclass(frozen=True)
class FakeRules:
    """The rules a clock reads: teams and SLA policies."""

    teams: Mapping[str, Team]
    policies: Mapping[str, SlaPolicy]
    version: str = "v1"


RULES = FakeRules(
    teams={
        "l2": Team("l2", "support", "oncall"),
        "billing": Team("billing", "engineering", None),
        "oncall": Team("oncall", "support", None),
    },
    policies={"urgent": URGENT, "keep": KEEP},
)


def make_clock(policy: str = "urgent", **changes: Any) -> TaskClock:
    routed = {"data": {"group_key": "g1", "accounts": ["acme"], "sla_policy": policy}}
    clock = TaskClock("t1", "l2", "oncall", "acme", URGENT.clocks(T0), routed)
    return replace(clock, **changes)


CLOCK = make_clock()
ACKED = replace(CLOCK, acknowledged=True)
STOP_ACK = Stop("t1", "task.acknowledged", LATER)
STOP_RESOLVED = Stop("t1", "task.resolved", LATER, ends="resolved")
STOP_REJECTED = Stop("t1", "task.rejected", LATER, ends="rejected")
TO_BILLING = Reassign("t1", "billing", "not ours", LATER, "fb-1")
TO_L2 = Reassign("t1", "l2", "", LATER, "fb-0")
REOPEN = Reopen("t1", "still broken", LATER, "fb-2")
AT_RISK_KEY = "sla.at_risk:acknowledge"
EMITTED = Emitted("t1", AT_RISK_KEY, 0)
CLOSED = Closed(ACKED, T0)

MOVED = replace(
    CLOCK,
    team="billing",
    escalate_to=None,
    clocks=URGENT.clocks(LATER),
    generation=1,
)
REROUTED_BILLING = Rerouted(
    CLOCK, "billing", "engineering", "reassigned by l2: not ours", URGENT.clocks(LATER), LATER,
    REASSIGNED, "fb-1", reassigned_from="l2",
)  # fmt: skip
HANDED = TaskHanded("t1", "billing")
REOPENED_CLOCK = replace(ACKED, acknowledged=False, clocks=URGENT.clocks(LATER), generation=1)
REROUTED_BACK = Rerouted(
    ACKED, "l2", "support", "reopened: still broken", URGENT.clocks(LATER), LATER,
    REOPENED, "fb-2",
)  # fmt: skip

STEPS: list[tuple[str, ClockState | None, ClockInput, ClockState | None, tuple[Effect, ...]]] = [
    # name, old state, input, new state, effects
    ("start", None, Start(CLOCK), Running(CLOCK), ()),
    ("a second start changes nothing", Running(ACKED), Start(CLOCK), Running(ACKED), ()),
    ("a stop before the start waits", None, STOP_ACK, Waiting((STOP_ACK,)), ()),
    (
        "early inputs pile up",
        Waiting((STOP_ACK,)),
        TO_BILLING,
        Waiting((STOP_ACK, TO_BILLING)),
        (),
    ),
    ("a signal for no clock is ignored", None, EMITTED, None, ()),
    ("forgetting nothing", None, Forget("t1"), None, ()),
    ("a stale wait is forgotten", Waiting((STOP_ACK,)), Forget("t1"), None, (SignalsReset("t1"),)),
    ("the start replays an early stop", Waiting((STOP_ACK,)), Start(CLOCK), Running(ACKED), ()),
    (
        "the start replays an early resolve",
        Waiting((STOP_RESOLVED,)),
        Start(CLOCK),
        Closed(ACKED, LATER),
        (
            ToGroup("g1", TaskClosed("t1", "resolved", LATER)),
            ToAccount("acme", TaskDropped("t1")),
            SignalsReset("t1"),
        ),
    ),
    ("acknowledged", Running(CLOCK), STOP_ACK, Running(ACKED), ()),
    (
        "rejected",
        Running(CLOCK),
        STOP_REJECTED,
        Closed(ACKED, LATER),
        (
            ToGroup("g1", TaskClosed("t1", "rejected", LATER)),
            ToAccount("acme", TaskDropped("t1")),
            SignalsReset("t1"),
        ),
    ),
    (
        "signalled",
        Running(CLOCK),
        EMITTED,
        Running(replace(CLOCK, already=("sla.at_risk:acknowledge",))),
        (),
    ),
    (
        "a signal of an older generation is ignored",
        Running(replace(CLOCK, generation=1)),
        EMITTED,
        Running(replace(CLOCK, generation=1)),
        (),
    ),
    ("handed to the team that has it", Running(ACKED), TO_L2, Running(ACKED), ()),
    (
        "reassigned: clocks restart",
        Running(replace(ACKED, already=("sla.at_risk:acknowledge",))),
        TO_BILLING,
        Running(MOVED),
        (
            replace(REROUTED_BILLING, clock=replace(ACKED, already=("sla.at_risk:acknowledge",))),
            ToGroup("g1", HANDED),
            ToAccount("acme", HANDED),
            SignalsReset("t1"),
        ),
    ),
    (
        "reassigned: clocks kept",
        Running(make_clock("keep", already=("sla.at_risk:acknowledge",))),
        TO_BILLING,
        Running(
            make_clock(
                "keep", team="billing", escalate_to=None, already=("sla.at_risk:acknowledge",)
            )
        ),
        (
            replace(
                REROUTED_BILLING,
                clock=make_clock("keep", already=("sla.at_risk:acknowledge",)),
                clocks=URGENT.clocks(T0),
            ),
            ToGroup("g1", HANDED),
            ToAccount("acme", HANDED),
        ),
    ),
    (
        "reopened",
        CLOSED,
        REOPEN,
        Running(REOPENED_CLOCK),
        (REROUTED_BACK, ToAccount("acme", TaskIndexed("t1", "l2", "reopened")), SignalsReset("t1")),
    ),
    ("a closed clock ignores stops", CLOSED, STOP_RESOLVED, CLOSED, ()),
    ("a closed clock ignores reassignments", CLOSED, TO_BILLING, CLOSED, ()),
    ("a closed clock is forgotten", CLOSED, Forget("t1"), None, (SignalsReset("t1"),)),
    ("a running clock is never forgotten", Running(CLOCK), Forget("t1"), Running(CLOCK), ()),
    ("an open task is not reopened", Running(CLOCK), REOPEN, Running(CLOCK), ()),
]


@pytest.mark.parametrize(
    ("old", "event", "new", "effects"),
    [row[1:] for row in STEPS],
    ids=[row[0] for row in STEPS],
)
def test_step(
    old: ClockState | None, event: ClockInput, new: ClockState | None, effects: tuple[Effect, ...]
) -> None:
    assert step(old, event, RULES) == Step(new, effects)


def test_a_task_handed_to_an_unknown_team_is_refused() -> None:
    with pytest.raises(UnknownTeamError, match="'nobody', a team the rules"):
        step(Running(CLOCK), replace(TO_BILLING, team="nobody"), RULES)


def test_the_routed_event_sent_is_kept_by_the_clock() -> None:
    routed = {"data": {"team": "billing"}}
    assert with_routed(Running(CLOCK), routed) == Running(replace(CLOCK, routed=routed))
    assert with_routed(CLOSED, routed) == Closed(replace(ACKED, routed=routed), T0)
    assert with_routed(Waiting((STOP_ACK,)), routed) == Waiting((STOP_ACK,))
    assert with_routed(None, routed) is None


def test_early_inputs_replay_in_order_at_the_start() -> None:
    """Handed over, then resolved, before the task's start arrived."""
    early = Waiting((TO_BILLING, STOP_RESOLVED))
    new, effects = step(early, Start(CLOCK), RULES)
    assert new == Closed(replace(MOVED, acknowledged=True), LATER)
    assert [type(e).__name__ for e in effects] == [
        "Rerouted", "ToGroup", "ToAccount", "SignalsReset",  # handed over
        "ToGroup", "ToAccount", "SignalsReset",  # resolved
    ]  # fmt: skip


ACK_WARN, ACK_DUE = T0 + timedelta(minutes=48), T0 + timedelta(hours=1)
AT_RISK, BREACHED = CLOCK.clocks.acknowledge.events()  # type: ignore[union-attr]
RESOLVE_AT_RISK, _ = CLOCK.clocks.resolve.events()  # type: ignore[union-attr]

TIMER: list[tuple[str, ClockState, datetime, datetime | None, tuple[Effect, ...]]] = [
    # name, state, now, next due, what the timer sends
    ("nothing due yet", Running(CLOCK), T0, ACK_WARN, ()),
    ("at risk", Running(CLOCK), ACK_WARN, ACK_WARN, (Signal(CLOCK, AT_RISK),)),
    (
        "breached",
        Running(CLOCK),
        ACK_DUE,
        ACK_WARN,
        (Signal(CLOCK, AT_RISK), Signal(CLOCK, BREACHED)),
    ),
    (
        "what was signalled is not again",
        Running(replace(CLOCK, already=(AT_RISK.key,))),
        ACK_DUE,
        ACK_DUE,
        (Signal(replace(CLOCK, already=(AT_RISK.key,)), BREACHED),),
    ),
    ("acknowledged: the resolve clock", Running(ACKED), ACK_DUE, RESOLVE_AT_RISK.at, ()),
    ("a closed clock within the window", CLOSED, T0 + WINDOW / 2, T0 + WINDOW, ()),
    ("a closed clock past the window", CLOSED, T0 + WINDOW, T0 + WINDOW, (Forget("t1"),)),
    (
        "a wait within its time",
        Waiting((STOP_ACK,)),
        LATER + EARLY_STOP_KEPT / 2,
        LATER + EARLY_STOP_KEPT,
        (),
    ),
    (
        "a wait past its time",
        Waiting((STOP_ACK,)),
        LATER + EARLY_STOP_KEPT,
        LATER + EARLY_STOP_KEPT,
        (Forget("t1"),),
    ),
]


@pytest.mark.parametrize(
    ("state", "now", "due", "sends"), [row[1:] for row in TIMER], ids=[row[0] for row in TIMER]
)
def test_timer(
    state: ClockState, now: datetime, due: datetime | None, sends: tuple[Effect, ...]
) -> None:
    assert next_due(state, now, WINDOW) == due
    assert on_timer(state, now, WINDOW) == sends


def test_only_a_breach_with_someone_to_escalate_to_escalates() -> None:
    assert Signal(CLOCK, BREACHED).escalates
    assert not Signal(CLOCK, AT_RISK).escalates
    assert not Signal(replace(CLOCK, escalate_to=None), BREACHED).escalates
