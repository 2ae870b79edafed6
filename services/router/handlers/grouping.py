"""Grouping: decisions in, tasks out (``task.routed`` to the team; its clock and account index).

Events with the same group key join the group's open task; the task's first
event opens it, starts its SLA clock and adds it to its account's index.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from schemas import topics
from schemas.events import TASK_ROUTED, derived_id
from services.core.clock import Start, TaskClock
from services.core.grouping import (
    GroupChange,
    GroupedTask,
    GroupEvent,
    Outcome,
    TaskIndexed,
    admit,
    change_group,
)
from services.core.sla import SlaClocks
from services.router import metrics as outcomes
from services.router.batch import Send
from services.router.clock_table import encode_message
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.internal import DecisionMessage, decode_group_message, encode_change
from services.router.outbound import routed_event
from services.router.pipeline import Handled
from services.router.pipeline import as_str as key_text

log = logging.getLogger(__name__)
JOINED = "joined"


class GroupingHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def group_routed_decision(self, key: bytes | None, value: bytes | None) -> Handled:
        message = decode_group_message(value)
        if not isinstance(message, DecisionMessage):
            return self._change(key_text(key), message)
        group_key = message.decision.group_key
        requester = message.text.requester_email
        event = GroupEvent(message.event.id, message.account, requester, message.event.time)
        admitted = admit(self._task(group_key), group_key, event, task_id=message.task_id)
        if admitted.outcome is Outcome.DUPLICATE:
            log.debug("duplicate event %s: in task %s", event.event_id, admitted.task.task_id)
            return Handled(outcomes.DUPLICATE)
        opened = admitted.outcome is Outcome.OPENED
        sends = self._sends(message, admitted.task, opened, admitted.new_account)
        write = (self.context.tables.groups, group_key, dumps(admitted.task.to_dict()))
        return Handled(outcomes.ROUTED if opened else JOINED, sends, [write])

    def _sends(
        self, message: DecisionMessage, task: GroupedTask, opened: bool, new_account: bool
    ) -> list[Send]:
        now = self.context.clock()
        event_id = (
            message.routed_event_id
            if opened
            else derived_id(TASK_ROUTED, task.task_id, str(task.event_count))
        )
        routed = routed_event(message, task, routed_at=now, event_id=event_id)
        key, value = message.account.encode("utf-8"), routed.to_bytes()
        team = task.team or message.decision.team
        sends: list[Send] = [(topics.ROUTED, key, value), (topics.team_topic(team), key, value)]
        if opened:
            clock = TaskClock(
                task.task_id, team, message.decision.escalate_to, message.account,
                message.decision.clocks or SlaClocks(None, None),
                json.loads(routed.model_dump_json()),
            )  # fmt: skip
            start = encode_message(Start(clock))
            sends.append((self.context.names.clocks, task.task_id.encode(), start))
            self._count(message, team, now)
        if new_account:
            add = encode_change(TaskIndexed(task.task_id, team))
            sends.append((self.context.names.accounts, key, add))
        return sends

    def _count(self, message: DecisionMessage, team: str, now: datetime) -> None:
        self.context.metrics.routed.labels(team).inc()
        latency = (now - message.event.sla_start).total_seconds()  # a backfill: from receipt
        self.context.metrics.route_latency.observe(max(latency, 0.0))

    def _change(self, group_key: str, change: GroupChange) -> Handled:
        """Close the group's open task, or hand it to another team."""
        changed = change_group(self._task(group_key), change)
        if changed is None:
            return Handled(IGNORED)  # that task is closed already, or the group has a newer one
        return Handled(
            IGNORED, writes=[(self.context.tables.groups, group_key, dumps(changed.to_dict()))]
        )

    def _task(self, group_key: str) -> GroupedTask | None:
        stored = self.context.tables.groups.get(group_key)
        return GroupedTask.from_dict(json.loads(stored)) if stored else None
