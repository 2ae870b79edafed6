"""A task's SLA clock as a state machine: waiting for its start, running, closed.

The router keeps one ``ClockState`` per task id. Its inputs arrive on a topic
keyed by task id, so one task's clock changes on one worker, one input at a
time:

::

    (none) --Start--> Running --Stop / Emitted / Reassign--> Running
    Running --Stop(ends)--> Closed --Reopen--> Running
    (none) --Stop / Reassign / Reopen--> Waiting --Start--> Running (the early inputs replayed)
    Waiting / Closed --Forget--> (none)

A stop can overtake its task's start (they come from different topics), so
what comes first is kept in ``Waiting`` and replayed once the start arrives.
A closed clock is kept for a reopen until the reopen window ends; the timer
then forgets it, as it forgets a ``Waiting`` whose start never came.

:func:`step` is ``(old state, input, rules) -> (new state, effects)``;
:func:`on_timer` is ``(state, now, window) -> effects``. Effects say what to
send; the router turns them into messages. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeAlias

from services.core.errors import HandoffError
from services.core.grouping import TaskClosed, TaskDropped, TaskHanded, TaskIndexed
from services.core.routing import Team
from services.core.sla import BREACHED, SlaClocks, SlaEvent, SlaPolicy

EARLY_STOP_KEPT = timedelta(minutes=10)  # how long a stop waits for its task's start
REOPENED = "reopened"
REASSIGNED = "reassigned"


class Rules(Protocol):
    """What a clock needs of the rules in force (``RoutingRules`` has it)."""

    @property
    def version(self) -> str: ...
    @property
    def teams(self) -> Mapping[str, Team]: ...
    @property
    def policies(self) -> Mapping[str, SlaPolicy]: ...


class UnknownTeamError(HandoffError):
    """A task handed to a team the rules do not know: it cannot be re-routed."""

    def __init__(self, task_id: str, team: str, version: str) -> None:
        super().__init__(
            f"task {task_id} was reassigned to {team!r}, a team the rules "
            f"(version {version}) do not know; it was not re-routed"
        )
        self.task_id, self.team, self.version = task_id, team, version


@dataclass(frozen=True)
class TaskClock:
    """A task's clocks and what the timer needs to signal and escalate it."""

    task_id: str
    team: str
    escalate_to: str | None
    key: str  # the Kafka key of the task's events (its account)
    clocks: SlaClocks
    routed: Mapping[str, Any]  # the task.routed event as last sent (JSON), to route it again
    acknowledged: bool = False
    already: tuple[str, ...] = ()  # keys of the SLA events already signalled
    generation: int = 0  # restarts by reassignment; a signal of an older one is not this one's

    @property
    def data(self) -> Mapping[str, Any]:
        data = self.routed.get("data", {})
        return data if isinstance(data, Mapping) else {}

    @property
    def group_key(self) -> str | None:
        return str(self.data["group_key"]) if self.data.get("group_key") else None

    @property
    def accounts(self) -> tuple[str, ...]:
        listed = self.data.get("accounts") or [self.data.get("account")]
        return tuple(str(account) for account in listed if account)

    @property
    def sla_policy(self) -> str:
        return str(self.data.get("sla_policy") or "")

    def due(self, now: datetime) -> tuple[SlaEvent, ...]:
        return self.clocks.due_events(
            now, acknowledged=self.acknowledged, resolved=False, already=set(self.already)
        )

    def next_deadline(self) -> datetime | None:
        return self.clocks.next_deadline(
            acknowledged=self.acknowledged, resolved=False, already=set(self.already)
        )


@dataclass(frozen=True)
class Start:
    """The task was routed: its clocks start."""

    clock: TaskClock

    @property
    def task_id(self) -> str:
        return self.clock.task_id


@dataclass(frozen=True)
class Stop:
    """A lifecycle event stopped clocks: ``ends`` is the state it closes the task in, if any."""

    task_id: str
    type: str  # the lifecycle event's type
    at: datetime
    ends: str | None = None  # "resolved" / "rejected": every clock stops; None: acknowledged


@dataclass(frozen=True)
class Emitted:
    """An SLA signal was sent (the timer will not send it again)."""

    task_id: str
    key: str
    generation: int = 0


@dataclass(frozen=True)
class Reopen:
    task_id: str
    message: str
    at: datetime
    event_id: str


@dataclass(frozen=True)
class Reassign:
    task_id: str
    team: str
    message: str
    at: datetime
    event_id: str


@dataclass(frozen=True)
class Forget:
    """Drop the entry (a closed clock past its window, a stop whose task never started)."""

    task_id: str


Early: TypeAlias = Stop | Reassign | Reopen
ClockInput: TypeAlias = Start | Stop | Emitted | Reopen | Reassign | Forget


@dataclass(frozen=True)
class Waiting:
    """Inputs that came before the task's start, oldest first (never empty)."""

    early: tuple[Early, ...]


@dataclass(frozen=True)
class Running:
    clock: TaskClock


@dataclass(frozen=True)
class Closed:
    """Resolved or rejected at ``at`` (None: not known); kept a while for a reopen."""

    clock: TaskClock
    at: datetime | None


ClockState: TypeAlias = Waiting | Running | Closed

# --- effects -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rerouted:
    """Route the task again (reopened, or handed to another team) from ``clock``'s last routing."""

    clock: TaskClock  # before the change
    team: str
    department: str | None
    reason: str
    clocks: SlaClocks
    at: datetime
    cause: str  # REOPENED or REASSIGNED
    cause_id: str  # the lifecycle event's id
    reassigned_from: str | None = None


@dataclass(frozen=True)
class ToGroup:
    group_key: str
    change: TaskClosed | TaskHanded


@dataclass(frozen=True)
class ToAccount:
    account: str
    change: TaskIndexed | TaskDropped | TaskHanded


@dataclass(frozen=True)
class SignalsReset:
    """What was signalled for the task no longer counts (closed, forgotten or restarted)."""

    task_id: str


@dataclass(frozen=True)
class Signal:
    """An SLA event came due on a running clock."""

    clock: TaskClock
    due: SlaEvent

    @property
    def escalates(self) -> bool:
        return self.due.type == BREACHED and self.clock.escalate_to is not None


Effect: TypeAlias = Rerouted | ToGroup | ToAccount | SignalsReset | Signal | Forget


class Step(NamedTuple):
    state: ClockState | None  # None: no entry
    effects: tuple[Effect, ...] = ()


# --- transitions -------------------------------------------------------------------------


def step(state: ClockState | None, event: ClockInput, rules: Rules) -> Step:
    """The clock after ``event``, and what to send because of it."""
    if isinstance(event, Start):
        return _start(state, event, rules)
    if isinstance(event, Forget):
        return _forget(state, event)
    if state is None or isinstance(state, Waiting):
        return _early(state, event)
    if isinstance(state, Closed):
        return _reopen(state, event, rules) if isinstance(event, Reopen) else Step(state)
    return _running(state, event, rules)


def _start(state: ClockState | None, event: Start, rules: Rules) -> Step:
    if state is None:
        return Step(Running(event.clock))
    if not isinstance(state, Waiting):
        return Step(state)  # started already (a redelivered start)
    effects: list[Effect] = []
    current: ClockState | None = Running(event.clock)
    for early in state.early:
        current, caused = step(current, early, rules)
        effects += caused
    return Step(current, tuple(effects))


def _forget(state: ClockState | None, event: Forget) -> Step:
    if state is None or isinstance(state, Running):
        return Step(state)
    return Step(None, (SignalsReset(event.task_id),))


def _early(state: Waiting | None, event: ClockInput) -> Step:
    """Before the start: keep what it must replay (the start may still be on its way)."""
    if not isinstance(event, Stop | Reassign | Reopen):
        return Step(state)
    kept = state.early if state is not None else ()
    return Step(Waiting((*kept, event)))


def _running(state: Running, event: ClockInput, rules: Rules) -> Step:
    clock = state.clock
    if isinstance(event, Stop):
        return _stop(clock, event)
    if isinstance(event, Emitted):
        if event.generation != clock.generation:
            return Step(state)  # signalled before a reassignment restarted the clocks
        return Step(Running(replace(clock, already=(*clock.already, event.key))))
    if isinstance(event, Reassign):
        return _reassign(clock, event, rules)
    return Step(state)


def _stop(clock: TaskClock, event: Stop) -> Step:
    acknowledged = replace(clock, acknowledged=True)
    if event.ends is None:
        return Step(Running(acknowledged))
    closing: list[Effect] = []
    if clock.group_key:
        closing.append(ToGroup(clock.group_key, TaskClosed(clock.task_id, event.ends, event.at)))
    closing += [ToAccount(a, TaskDropped(clock.task_id)) for a in clock.accounts]
    closing.append(SignalsReset(clock.task_id))
    return Step(Closed(acknowledged, event.at), tuple(closing))


def _reopen(state: Closed, event: Reopen, rules: Rules) -> Step:
    """A closed task reopened: route it to its team again, with fresh SLA budgets."""
    clock = state.clock
    policy = rules.policies.get(clock.sla_policy)
    clocks = policy.clocks(event.at) if policy else clock.clocks
    team = rules.teams.get(clock.team)
    department = team.department if team else clock.data.get("department")
    reason = REOPENED + (f": {event.message}" if event.message else "")
    again = Rerouted(
        clock, clock.team, department, reason, clocks, event.at, REOPENED, event.event_id
    )
    back = [ToAccount(a, TaskIndexed(clock.task_id, clock.team, REOPENED)) for a in clock.accounts]
    restart = clock.generation + 1
    fresh = replace(clock, clocks=clocks, acknowledged=False, already=(), generation=restart)
    return Step(Running(fresh), (again, *back, SignalsReset(clock.task_id)))


def _reassign(clock: TaskClock, event: Reassign, rules: Rules) -> Step:
    """Re-route the task to its new team; its clocks follow the SLA policy's ``on_reassign``."""
    if event.team == clock.team:
        return Step(Running(clock))  # already applied (a replay), or handed to the team that has it
    team = rules.teams.get(event.team)
    if team is None:
        raise UnknownTeamError(clock.task_id, event.team, rules.version)
    policy = rules.policies.get(clock.sla_policy)
    clocks, restarted = (
        policy.reassigned(clock.clocks, event.at) if policy else (clock.clocks, False)
    )
    reason = f"reassigned by {clock.team}" + (f": {event.message}" if event.message else "")
    moved = Rerouted(
        clock, event.team, team.department, reason, clocks, event.at, REASSIGNED, event.event_id,
        reassigned_from=clock.team,
    )  # fmt: skip
    reset = (SignalsReset(clock.task_id),) if restarted else ()
    effects = (moved, *_handed(clock, event.team), *reset)
    after = replace(
        clock,
        team=event.team,
        escalate_to=team.escalate_to,
        clocks=clocks,
        acknowledged=False,
        already=() if restarted else clock.already,
        generation=clock.generation + 1 if restarted else clock.generation,
    )
    return Step(Running(after), effects)


def _handed(clock: TaskClock, team: str) -> list[Effect]:
    """The task's group and accounts learn it is now with ``team``."""
    handed = TaskHanded(clock.task_id, team)
    to_group: list[Effect] = [ToGroup(clock.group_key, handed)] if clock.group_key else []
    return to_group + [ToAccount(account, handed) for account in clock.accounts]


def with_routed(state: ClockState | None, routed: Mapping[str, Any]) -> ClockState | None:
    """The clock with the task.routed the router sent for a ``Rerouted`` (the newest routing;
    a later input of the same step, such as an early stop replayed, may have closed it)."""
    if isinstance(state, Running):
        return Running(replace(state.clock, routed=routed))
    if isinstance(state, Closed):
        return Closed(replace(state.clock, routed=routed), state.at)
    return state


# --- the timer ---------------------------------------------------------------------------


def next_due(state: ClockState, now: datetime, window: timedelta) -> datetime | None:
    """When the entry next needs the timer (maybe already past); None: never."""
    if isinstance(state, Waiting):
        return state.early[0].at + EARLY_STOP_KEPT
    if isinstance(state, Closed):
        return (state.at or now) + window
    return state.clock.next_deadline()


def on_timer(state: ClockState, now: datetime, window: timedelta) -> tuple[Effect, ...]:
    """What the timer sends for the entry at ``now``: its due SLA signals, or a ``Forget``."""
    if isinstance(state, Running):
        return tuple(Signal(state.clock, due) for due in state.clock.due(now))
    due = next_due(state, now, window)
    if due is not None and due <= now:
        task_id = state.clock.task_id if isinstance(state, Closed) else state.early[0].task_id
        return (Forget(task_id),)
    return ()
