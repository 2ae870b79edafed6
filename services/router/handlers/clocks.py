"""SLA clocks: lifecycle events stop them, reassignments and reopens route the task again.

``stop_sla_clocks`` turns a lifecycle event on ``handoff.feedback`` into an input
for the task's clock (on ``-clocks``, keyed by task id); ``track_sla_clock``
applies it with ``services.core.clock.step`` and sends what the step says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from schemas import topics
from schemas.events import (
    STOPS_ACKNOWLEDGE_CLOCK,
    STOPS_ALL_CLOCKS,
    TASK_REASSIGNED,
    TASK_REOPENED,
    CloudEvent,
)
from services.core.clock import (
    ClockState,
    Effect,
    Reassign,
    Reopen,
    Rerouted,
    SignalsReset,
    Stop,
    ToAccount,
    ToGroup,
    UnknownTeamError,
    with_routed,
)
from services.core.escalation import step_escalating
from services.core.retime import Retime, retime
from services.router.batch import Send
from services.router.clock_table import (
    decode_message,
    decode_state,
    encode_message,
    encode_state,
    stop_ends,
)
from services.router.handlers.base import IGNORED, Context, Table
from services.router.inbound import PoisonMessageError, decode_cloud_event
from services.router.internal import encode_change
from services.router.outbound import rerouted_event
from services.router.pipeline import Handled, Write

_LIFECYCLE: Final = STOPS_ACKNOWLEDGE_CLOCK | STOPS_ALL_CLOCKS | {TASK_REASSIGNED, TASK_REOPENED}


class ClockHandlers:
    def __init__(self, context: Context, reset_signals: Callable[[str], None]) -> None:
        self.context = context
        self.reset_signals = reset_signals  # the timer's memory of what it sent for a task

    def stop_sla_clocks(self, key: bytes | None, value: bytes | None) -> Handled:
        """Lifecycle events on ``handoff.feedback`` stop the task's clocks."""
        try:
            cloud = decode_cloud_event(value)
        except PoisonMessageError:
            return Handled(IGNORED)  # not ours to park: the API owns handoff.feedback
        message = clock_input(cloud)
        if message is None:
            return Handled(IGNORED)
        send = (self.context.names.clocks, message.task_id.encode(), encode_message(message))
        return Handled(IGNORED, [send])

    def track_sla_clock(self, key: bytes | None, value: bytes | None) -> Handled:
        message = decode_message(value)
        if message is None:
            return Handled(IGNORED)
        table, task_id = self.context.tables.clocks, message.task_id
        stored = table.get(task_id)
        old = decode_state(stored) if stored is not None else None
        try:
            new, effects = (
                retime(old, message)
                if isinstance(message, Retime)
                else step_escalating(old, message, self.context.rules.current)
            )
        except UnknownTeamError as exc:
            raise PoisonMessageError(str(exc), "UnknownTeam") from exc
        sends: list[Send] = []
        for effect in effects:
            new = self._perform(effect, new, sends)
        return Handled(IGNORED, sends, _writes(table, task_id, old, new))

    def _perform(
        self, effect: Effect, state: ClockState | None, sends: list[Send]
    ) -> ClockState | None:
        """Add the effect's sends; the state, with the task.routed sent for a ``Rerouted``."""
        names = self.context.names
        if isinstance(effect, Rerouted):
            moved = rerouted_event(effect)
            key, value = effect.clock.key.encode("utf-8"), moved.to_bytes()
            sends += [(topics.ROUTED, key, value), (topics.team_topic(effect.team), key, value)]
            if effect.reassigned_from is not None:
                self.context.metrics.reassigned.labels(effect.team).inc()
            return with_routed(state, json.loads(moved.model_dump_json()))
        if isinstance(effect, ToGroup):
            sends.append((names.groups, effect.group_key.encode(), encode_change(effect.change)))
        elif isinstance(effect, ToAccount):
            sends.append((names.accounts, effect.account.encode(), encode_change(effect.change)))
        elif isinstance(effect, SignalsReset):
            self.reset_signals(effect.task_id)
        return state


def _writes(
    table: Table, task_id: str, old: ClockState | None, new: ClockState | None
) -> list[Write]:
    if new is None:
        return [(table, task_id, None)] if old is not None else []
    return [] if new == old else [(table, task_id, encode_state(new))]


def clock_input(cloud: CloudEvent) -> Stop | Reassign | Reopen | None:
    """What a lifecycle event does to its task's clock; None: nothing."""
    task_id = cloud.subject or str(cloud.data.get("task_id") or "")
    if cloud.type not in _LIFECYCLE or not task_id:
        return None
    message = str(cloud.data.get("message") or "")
    if cloud.type == TASK_REOPENED:
        return Reopen(task_id, message, cloud.time, cloud.id)
    if cloud.type != TASK_REASSIGNED:
        return Stop(task_id, cloud.type, cloud.time, ends=stop_ends(cloud.type))
    team = str(cloud.data.get("team") or "")
    return Reassign(task_id, team, message, cloud.time, cloud.id) if team else None
