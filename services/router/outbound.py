"""Bytes out: the events the router publishes (``task.routed``, SLA signals, answers).

Each is a CloudEvent whose id is derived from what caused it, so a resend
after a crash carries the same id. May import pydantic, schemas and the
core; never faust.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from schemas.events import (
    SLA_AT_RISK,
    TASK_FEEDBACK,
    TASK_ROUTED,
    CloudEvent,
    Priority,
    SlaSignal,
    TaskFeedback,
    TaskRouted,
    TaskState,
    derived_id,
    envelope,
)
from schemas.orders import PlanningRequest
from schemas.sales import outcome_of
from schemas.task_updates import TaskUpdate
from services.core.clock import REOPENED, Rerouted, TaskClock
from services.core.grouping import GroupedTask, GroupEvent
from services.core.identity import request_identifiers
from services.core.sla import SlaClocks, SlaEvent
from services.router.internal import DecisionMessage

SOURCE: Final = "handoff/router"
_REASON_MAX: Final = 1000


@dataclass(frozen=True)
class Followed:
    """The terms a grouped task follows (its most urgent request's), and the update it is."""

    priority: Priority
    sla: str | None
    clocks: SlaClocks | None
    update: TaskUpdate | None = None


def _signal_id(type_: str, clock: TaskClock, key: str, *extra: str) -> str:
    """A signal's id; the first generation keeps the ids it always had."""
    generation = (str(clock.generation),) if clock.generation else ()
    return derived_id(type_, clock.task_id, *extra, key, *generation)


def sla_event(clock: TaskClock, due: SlaEvent) -> CloudEvent:
    """``sla.at_risk`` / ``sla.breached``; its id is derived from the task and the event key."""
    signal = SlaSignal(
        task_id=clock.task_id,
        team=clock.team,
        clock="acknowledge" if due.clock == "acknowledge" else "resolve",
        due=due.due,
        escalate_to=clock.escalate_to if due.type != SLA_AT_RISK else None,
    )
    return envelope(
        type_=due.type,
        source=SOURCE,
        data=signal,
        time=due.at,
        event_id=_signal_id(due.type, clock, due.key),
        subject=clock.task_id,
    )


def escalated_event(clock: TaskClock, due: SlaEvent, *, at: datetime) -> CloudEvent | None:
    """The task re-routed to the escalation team after a breach (None: nobody to escalate to)."""
    if clock.escalate_to is None:
        return None
    routed = CloudEvent.model_validate(clock.routed)
    task = TaskRouted.model_validate(routed.data)
    escalated = task.model_copy(
        update={
            "team": clock.escalate_to,
            "escalated_from": task.team,
            "reason": f"SLA {due.clock} breached at {due.due.isoformat()} by {task.team}",
            "routed_at": at,
            "update": None,
        }
    )
    return envelope(
        type_=TASK_ROUTED,
        source=SOURCE,
        data=escalated,
        time=at,
        event_id=_signal_id(TASK_ROUTED, clock, due.key, "escalated"),
        subject=clock.task_id,
    )


def rerouted_event(change: Rerouted) -> CloudEvent:
    """The task routed again (handed to a team, or reopened) with its deadlines from now on."""
    clock, at = change.clock, change.at
    task = TaskRouted.model_validate(CloudEvent.model_validate(clock.routed).data)
    acknowledge, resolve = change.clocks.deadlines
    moved = task.model_copy(
        update={
            "team": change.team,
            "department": change.department,
            "reassigned_from": change.reassigned_from,
            "reopened_at": at if change.cause == REOPENED else None,
            "escalated_from": None,
            "reason": change.reason[:_REASON_MAX],
            "routed_at": at,
            "acknowledge_by": acknowledge,
            "resolve_by": resolve,
            "sla_due": acknowledge or resolve or task.raised_at,
            "update": None,
        }
    )
    event_id = derived_id(TASK_ROUTED, clock.task_id, change.cause, change.cause_id)
    return envelope(
        type_=TASK_ROUTED, source=SOURCE, data=moved, time=at, event_id=event_id,
        subject=clock.task_id,
    )  # fmt: skip


def routed_event(
    message: DecisionMessage,
    task: GroupedTask,
    *,
    routed_at: datetime,
    event_id: str,
    followed: Followed | None = None,
) -> CloudEvent:
    """The ``task.routed`` event of a (grouped) task: by default with the terms ``message``'s
    route gives, else with those the task ``followed`` (its most urgent request's)."""
    d, text, event = message.decision, message.text, message.event
    terms = followed or Followed(text.priority, d.sla, d.clocks)
    acknowledge, resolve = terms.clocks.deadlines if terms.clocks else (None, None)
    routed = TaskRouted(
        task_id=task.task_id,
        source_event_id=event.id if task.event_count == 1 else task.event_ids[0],
        source=event.source,
        team=task.team or d.team,
        rule=d.route_id,
        account=message.account,
        priority=terms.priority,
        component=text.component,
        subject=text.subject,
        description=text.description,
        requester_email=text.requester_email,
        raised_at=event.time,
        routed_at=routed_at,
        sla_due=acknowledge or resolve or event.sla_start,
        sla_started_at=event.slastart,
        route_id=d.route_id,
        rules_version=message.rules_version,
        reason=d.reason,
        department=d.department,
        sla_policy=terms.sla,
        acknowledge_by=acknowledge,
        resolve_by=resolve,
        group_key=d.group_key,
        event_count=task.event_count,
        event_ids=list(task.event_ids),
        accounts=list(task.accounts),
        requesters=list(task.requesters),
        summary=task.summary(),
        related=list(message.related),
        labels=dict(d.labels),
        earliest_feasible=message.earliest_feasible,
        planning=PlanningRequest.model_validate(message.planning) if message.planning else None,
        origin_event_id=event.id,
        origin_ref=_origin_ref(event),
        outcome=outcome_of(event.data),
        identifiers=request_identifiers(event.data),
        update=terms.update,
    )
    return envelope(
        type_=TASK_ROUTED,
        source=SOURCE,
        data=routed,
        time=routed_at,
        event_id=event_id,
        subject=task.task_id,
    )


def _origin_ref(event: CloudEvent) -> str | None:
    """The request's id in its own system (a helpdesk ticket, a CRM note), when it gave one."""
    ref = event.data.get("ticket_id") or event.data.get("note_id")
    return str(ref)[:128] if ref else None


def answered_task(message: DecisionMessage, answer: CloudEvent) -> CloudEvent:
    """The ``task.routed`` of a request the router answered itself: a resolved task, so its
    answer counts in the API's figures (the fastest feedback there is)."""
    event = message.event
    single = GroupedTask.open(
        message.task_id,
        message.decision.group_key,
        GroupEvent(event.id, message.account, message.text.requester_email, event.time),
    )
    routed = routed_event(message, single, routed_at=answer.time, event_id=message.routed_event_id)
    data = TaskRouted.model_validate(routed.data).model_copy(
        update={"answered_at": answer.time, "answer": answer.data["message"]}
    )
    return routed.model_copy(update={"data": data.model_dump(mode="json")})


def feasible_answer(message: DecisionMessage, earliest: date, *, at: datetime) -> CloudEvent:
    """The immediate answer to a feasible rush order, back to sales on ``handoff.feedback``."""
    answer = TaskFeedback(
        task_id=message.task_id,
        source_event_id=message.event.id,
        source=message.event.source,
        team=message.decision.team,
        status=TaskState.RESOLVED,
        message=f"feasible, earliest date {earliest.isoformat()}",
        raised_at=message.event.time,
        answered_at=at,
    )
    return envelope(
        type_=TASK_FEEDBACK,
        source=SOURCE,
        data=answer,
        time=at,
        event_id=derived_id(TASK_FEEDBACK, message.task_id),
        subject=message.task_id,
    )
