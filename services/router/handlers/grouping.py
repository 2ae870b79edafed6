"""Grouping: decisions in, tasks out (``task.routed`` to the team; its clock and account index).

Events with the same group key (team and ``group_by`` values) join the group's
open task; the task's first event opens it, starts its SLA clock and adds it
to its account's index. The task follows its most urgent request
(``services.core.terms``): when a request joins with tighter deadlines, or a
request already in the task comes again with another priority (a ticket
update), the task's terms change once and the router sends an *update* of the
same task -- a ``task.routed`` with the same task id and ``update`` set, to
``handoff.routed`` and the team's topic -- and moves its clock (``retime``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import topics
from schemas.events import TASK_ROUTED, Priority, derived_id
from schemas.task_updates import TaskUpdate, TermChange
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
from services.core.retime import Retime
from services.core.routing import RoutingRules
from services.core.sla import SlaClocks
from services.core.terms import TaskTerms, Terms, changes
from services.router import metrics as outcomes
from services.router.batch import Send
from services.router.clock_table import encode_message
from services.router.handlers.base import IGNORED, Context, dumps
from services.router.internal import DecisionMessage, decode_group_message, encode_change
from services.router.outbound import Followed, routed_event
from services.router.pipeline import Handled
from services.router.pipeline import as_str as key_text

log = logging.getLogger(__name__)
JOINED = "joined"
PRIORITY_CHANGED = "priority_changed"
REQUEST_JOINED = "request_joined"


@dataclass(frozen=True)
class Stored:
    """A group's table value: its task and the terms of the task's requests."""

    task: GroupedTask | None
    terms: TaskTerms

    def value(self) -> str:
        assert self.task is not None
        return dumps({**self.task.to_dict(), "terms": self.terms.to_dict()})


@dataclass(frozen=True)
class Revision:
    """The task's terms after an event, and the update it makes (None: the terms stand)."""

    terms: TaskTerms
    current: Terms | None
    update: TaskUpdate | None = None


class GroupingHandlers:
    def __init__(self, context: Context) -> None:
        self.context = context

    def group_routed_decision(self, key: bytes | None, value: bytes | None) -> Handled:
        message = decode_group_message(value)
        if not isinstance(message, DecisionMessage):
            return self._change(key_text(key), message)
        group_key = message.decision.group_key
        stored = self._stored(group_key)
        requester = message.text.requester_email
        event = GroupEvent(message.event.id, message.account, requester, message.event.time)
        admitted = admit(stored.task, group_key, event, task_id=message.task_id)
        if admitted.outcome is Outcome.DUPLICATE:
            return self._again(message, admitted.task, stored.terms)
        if message.again:  # its task closed and the group moved on: a change opens nothing
            return Handled(outcomes.DUPLICATE)
        opened = admitted.outcome is Outcome.OPENED
        revision = joined(
            TaskTerms() if opened else stored.terms, admitted.task, event.event_id, request(message)
        )
        sends = self._sends(message, admitted.task, revision, opened, admitted.new_account)
        write = (
            self.context.tables.groups,
            group_key,
            Stored(admitted.task, revision.terms).value(),
        )
        outcome = outcomes.ROUTED if opened else outcomes.UPDATED if revision.update else JOINED
        return Handled(outcome, sends, [write])

    def _again(self, message: DecisionMessage, task: GroupedTask, terms: TaskTerms) -> Handled:
        """A request already in the task, come again: with new terms (its priority changed),
        the task may follow them; otherwise a redelivery that changes nothing."""
        revision = changed(terms, message, self.context.rules.current)
        if revision is None or not task.is_open:
            log.debug("duplicate event %s: in task %s", message.event.id, task.task_id)
            return Handled(outcomes.DUPLICATE)
        write = (
            self.context.tables.groups,
            message.decision.group_key,
            Stored(task, revision.terms).value(),
        )
        if revision.update is None:
            return Handled(outcomes.DUPLICATE, writes=[write])  # the task's terms stand
        return Handled(outcomes.UPDATED, self._update_sends(message, task, revision), [write])

    def _sends(
        self,
        message: DecisionMessage,
        task: GroupedTask,
        revision: Revision,
        opened: bool,
        new_account: bool,
    ) -> list[Send]:
        if revision.update is not None:
            sends = self._update_sends(message, task, revision)
        else:
            sends = self._routed_sends(message, task, revision, opened)
        team = task.team or message.decision.team
        if opened:
            sends.append(self._start(message, task, team, sends[0][2]))
            self._count(message, team, self.context.clock())
        if new_account:
            add = encode_change(TaskIndexed(task.task_id, team))
            sends.append((self.context.names.accounts, message.account.encode("utf-8"), add))
        return sends

    def _routed_sends(
        self, message: DecisionMessage, task: GroupedTask, revision: Revision, opened: bool
    ) -> list[Send]:
        event_id = (
            message.routed_event_id
            if opened
            else derived_id(TASK_ROUTED, task.task_id, str(task.event_count))
        )
        followed = self._followed(message, revision)
        routed = routed_event(
            message, task, routed_at=self.context.clock(), event_id=event_id, followed=followed
        )
        return self._to_team(message, task, routed.to_bytes())

    def _update_sends(
        self, message: DecisionMessage, task: GroupedTask, revision: Revision
    ) -> list[Send]:
        """The update of the task (same task id) to its readers, and its clock moved."""
        assert revision.update is not None
        event_id = derived_id(TASK_ROUTED, task.task_id, "update", str(revision.update.revision))
        followed = self._followed(message, revision)
        routed = routed_event(
            message, task, routed_at=self.context.clock(), event_id=event_id, followed=followed
        )
        clocks = followed.clocks if followed is not None else None
        first = task.accounts[0] if task.accounts else message.account  # the task's own key
        sends = self._to_team(message, task, routed.to_bytes(), first)
        if clocks is not None:
            retime = Retime(task.task_id, clocks, json.loads(routed.model_dump_json()))
            sends.append((self.context.names.clocks, task.task_id.encode(), encode_message(retime)))
        return sends

    def _to_team(
        self, message: DecisionMessage, task: GroupedTask, value: bytes, account: str = ""
    ) -> list[Send]:
        key = (account or message.account).encode("utf-8")
        team = task.team or message.decision.team
        return [(topics.ROUTED, key, value), (topics.team_topic(team), key, value)]

    def _followed(self, message: DecisionMessage, revision: Revision) -> Followed | None:
        """The task's terms as the event carries them (None: the message's route's own)."""
        current = revision.current
        if current is None:
            return None
        clocks = clocks_of(current, self.context.rules.current)
        return Followed(Priority(current.priority), current.sla, clocks, revision.update)

    def _start(self, message: DecisionMessage, task: GroupedTask, team: str, routed: bytes) -> Send:
        clock = TaskClock(
            task.task_id, team, message.decision.escalate_to, message.account,
            message.decision.clocks or SlaClocks(None, None), json.loads(routed),
        )  # fmt: skip
        return (self.context.names.clocks, task.task_id.encode(), encode_message(Start(clock)))

    def _count(self, message: DecisionMessage, team: str, now: datetime) -> None:
        self.context.metrics.routed.labels(team).inc()
        latency = (now - message.event.sla_start).total_seconds()  # a backfill: from receipt
        self.context.metrics.route_latency.observe(max(latency, 0.0))

    def _change(self, group_key: str, change: GroupChange) -> Handled:
        """Close the group's open task, or hand it to another team."""
        stored = self._stored(group_key)
        changed_task = change_group(stored.task, change)
        if changed_task is None:
            return Handled(IGNORED)  # that task is closed already, or the group has a newer one
        write = (self.context.tables.groups, group_key, Stored(changed_task, stored.terms).value())
        return Handled(IGNORED, writes=[write])

    def _stored(self, group_key: str) -> Stored:
        stored = self.context.tables.groups.get(group_key)
        if not stored:
            return Stored(None, TaskTerms())
        body: dict[str, Any] = json.loads(stored)
        return Stored(GroupedTask.from_dict(body), TaskTerms.from_dict(body.get("terms")))


def request(message: DecisionMessage) -> Terms:
    """The terms the message's route gives its request."""
    clocks = message.decision.clocks
    acknowledge, resolve = clocks.deadlines if clocks else (None, None)
    start = message.event.sla_start
    return Terms(message.text.priority.value, message.decision.sla, start, acknowledge, resolve)


def joined(terms: TaskTerms, task: GroupedTask, event_id: str, new: Terms) -> Revision:
    """The task's terms once the request ``event_id`` is in it (a task stored before terms
    were kept -- none known -- simply starts keeping them)."""
    before = terms.current()
    after_terms = terms.with_request(event_id, new).keep(task.event_ids)
    return _revision(before, after_terms, REQUEST_JOINED, event_id)


def changed(terms: TaskTerms, message: DecisionMessage, rules: RoutingRules) -> Revision | None:
    """The task's terms once a request in it has the message's priority and SLA (timed from
    its own start, as before); None when the request's terms did not change."""
    old = terms.of(message.event.id)
    new = request(message)
    if old is None or (old.priority, old.sla) == (new.priority, new.sla):
        return None
    clocks = clocks_of(Terms(new.priority, new.sla, old.start), rules)
    acknowledge, resolve = clocks.deadlines if clocks else (None, None)
    again = Terms(new.priority, new.sla, old.start, acknowledge, resolve)
    return _revision(
        terms.current(),
        terms.with_request(message.event.id, again),
        PRIORITY_CHANGED,
        message.event.id,
    )


def _revision(before: Terms | None, terms: TaskTerms, cause: str, event_id: str) -> Revision:
    after = terms.current()
    differ = changes(before, after) if before is not None and after is not None else ()
    if not differ:
        return Revision(terms, after)
    revised = terms.revised()
    listed = [TermChange(name=n, before=b, after=a) for n, b, a in differ]
    update = TaskUpdate(
        revision=revised.revision, cause=cause, request_event_id=event_id, changes=listed
    )
    return Revision(revised, after, update)


def clocks_of(terms: Terms, rules: RoutingRules) -> SlaClocks | None:
    """A request's clocks under the rules in force (None: no SLA policy)."""
    policy = rules.policies.get(terms.sla) if terms.sla else None
    return policy.clocks(terms.start) if policy else None
