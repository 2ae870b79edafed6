"""Bytes in, bytes out: decode incoming events, encode the router's own messages.

No Faust here (``app.py`` is the only module that imports it). The agents call
:func:`decode_incoming` (a ``support.ticket`` or a ``sales.note``), the core's
``RoutingRules.decide``, then the encoders below. What cannot be decoded
raises :class:`PoisonMessageError`, which the agent parks on the dead-letter
topic.

The router app's internal topics (``<app id>-<suffix>``, see
``schemas.topics.router_topic``) carry plain JSON objects with a ``kind``:

- ``-groups`` (key: group key): ``decision`` -- one routing
  decision for one event, with the event itself; ``close`` -- the group's task
  was resolved or rejected.
- ``-clocks`` (key: task id): ``start`` (the task's SLA clocks),
  ``stop`` (a lifecycle event stopped clocks), ``emitted`` (an SLA signal was
  sent; the timer will not send it again).
- ``-accounts`` (key: account): ``add`` / ``close`` a task in
  the account's context.
- ``-capacity`` (key: product line): a capacity-checked
  ``decision``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from schemas.events import (
    SALES_NOTE,
    SLA_AT_RISK,
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    TASK_FEEDBACK,
    TASK_ROUTED,
    CloudEvent,
    Priority,
    ProductionCapacity,
    RelatedTask,
    SalesNote,
    SlaSignal,
    SupportTicket,
    TaskFeedback,
    TaskRouted,
    TaskState,
    TicketUpdated,
    derived_id,
    envelope,
)
from services.core.capacity import CapacityUpdate
from services.core.errors import HandoffError
from services.core.grouping import GroupedTask, GroupEvent
from services.core.identity import resolve_account
from services.core.labels import routing_labels
from services.core.routetree import Capacity
from services.core.routing import Decision
from services.core.sla import SlaClock, SlaClocks, SlaEvent

SOURCE: Final = "handoff/router"
_REASON_MAX: Final = 1000
SERVICE: Final = "router"
_REASON_LIMIT: Final = 2000
ACCOUNT_LABEL: Final = "account"


class PoisonMessageError(HandoffError):
    """A message the router can never process; it goes to the dead-letter topic."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason[:_REASON_LIMIT]
        self.error_type = error_type


@dataclass(frozen=True)
class TaskText:
    """What a task shows of its first event, whatever the event's type."""

    priority: Priority
    component: str | None
    subject: str
    description: str
    requester_email: str


@dataclass(frozen=True)
class Incoming:
    """A decoded, validated event: its labels, its account and its text."""

    event: CloudEvent
    account: str
    labels: dict[str, str]
    text: TaskText


_MODELS: Final[Mapping[str, type[BaseModel]]] = {
    SUPPORT_TICKET: SupportTicket,
    SALES_NOTE: SalesNote,
}
_ERROR_TYPES: Final = {SUPPORT_TICKET: "InvalidSupportTicket", SALES_NOTE: "InvalidSalesNote"}


def decode_cloud_event(value: bytes | None) -> CloudEvent:
    if value is None:
        raise PoisonMessageError("message has no value", "EmptyMessage")
    try:
        return CloudEvent.from_bytes(value)
    except ValidationError as exc:
        not_json = [e["msg"] for e in exc.errors() if e["type"] == "json_invalid"]
        if not_json:
            detail = not_json[0].removeprefix("Invalid JSON: ")
            raise PoisonMessageError(f"value is not JSON: {detail}", "InvalidJson") from exc
        raise PoisonMessageError(f"not a CloudEvent: {_summary(exc)}", "InvalidCloudEvent") from exc


def decode_incoming(value: bytes | None, expected: str) -> Incoming:
    """The event in a message value (of type ``expected``), or why it cannot be routed."""
    return incoming_of(decode_cloud_event(value), expected)


def incoming_of(event: CloudEvent, expected: str) -> Incoming:
    """A decoded event (of type ``expected``) ready to route, or why it cannot be routed."""
    if event.type != expected:
        raise PoisonMessageError(
            f"event type {event.type!r} is not {expected!r}", "UnexpectedEventType"
        )
    try:
        data = _MODELS[expected].model_validate(event.data)
        account, text = _account_and_text(data)
    except ValidationError as exc:
        raise PoisonMessageError(
            f"invalid {expected} data: {_summary(exc, prefix='data')}", _ERROR_TYPES[expected]
        ) from exc
    except ValueError as exc:
        raise PoisonMessageError(f"invalid {expected} data: {exc}", _ERROR_TYPES[expected]) from exc
    attributes = event.model_dump(mode="json", exclude={"data"}, exclude_none=True)
    labels = routing_labels(attributes, data.model_dump(mode="json", exclude_none=True))
    labels[ACCOUNT_LABEL] = account
    return Incoming(event=event, account=account, labels=labels, text=text)


def check_ticket_update(event: CloudEvent) -> CloudEvent:
    """A ``support.ticket_updated`` event, validated, or why it cannot be passed on."""
    try:
        TicketUpdated.model_validate(event.data)
    except ValidationError as exc:
        raise PoisonMessageError(
            f"invalid {SUPPORT_TICKET_UPDATED} data: {_summary(exc, prefix='data')}",
            "InvalidTicketUpdated",
        ) from exc
    return event


def _account_and_text(data: BaseModel) -> tuple[str, TaskText]:
    if isinstance(data, SupportTicket):
        account = resolve_account(
            crm_id=data.crm_account_id, company_id=data.company_id, email=data.requester_email
        )
        text = TaskText(
            data.priority, data.component, data.subject, data.description, data.requester_email
        )
        return str(account), text
    assert isinstance(data, SalesNote)
    account = resolve_account(
        crm_id=data.crm_account_id,
        company_id=data.company_id,
        email=data.customer_email,
    )
    text = TaskText(Priority.NORMAL, None, data.subject, data.body, str(data.rep_email))
    return str(account), text


def task_id_for(event_id: str, route_id: str | None = None, first: bool = True) -> str:
    """The first decision's task is ``derived_id("task", event id)``; others add the route."""
    return (
        derived_id("task", event_id)
        if first or route_id is None
        else derived_id("task", event_id, route_id)
    )


# --- decisions on the groups / capacity topics ---------------------------------------


@dataclass(frozen=True)
class DecisionMessage:
    """One routing decision for one event, as the grouping agent receives it."""

    event: CloudEvent
    account: str
    text: TaskText
    rules_version: str
    task_id: str
    routed_event_id: str
    decision: Decision
    labels: Mapping[str, str]
    related: tuple[RelatedTask, ...] = ()
    earliest_feasible: date | None = None


def decision_messages(
    incoming: Incoming,
    decisions: Sequence[Decision],
    *,
    rules_version: str,
    related: Sequence[RelatedTask] = (),
) -> list[DecisionMessage]:
    out = []
    for n, decision in enumerate(decisions):
        event_id = incoming.event.id
        routed_id = (
            derived_id(TASK_ROUTED, event_id)
            if n == 0
            else derived_id(TASK_ROUTED, event_id, decision.route_id)
        )
        out.append(
            DecisionMessage(
                event=incoming.event,
                account=incoming.account,
                text=incoming.text,
                rules_version=rules_version,
                task_id=task_id_for(event_id, decision.route_id, first=n == 0),
                routed_event_id=routed_id,
                decision=decision,
                labels=incoming.labels,
                related=tuple(related),
            )
        )
    return out


def encode_decision(message: DecisionMessage) -> bytes:
    d = message.decision
    body = {
        "kind": "decision",
        "event": json.loads(message.event.to_bytes()),
        "account": message.account,
        "text": {
            "priority": message.text.priority.value,
            "component": message.text.component,
            "subject": message.text.subject,
            "description": message.text.description,
            "requester_email": message.text.requester_email,
        },
        "rules_version": message.rules_version,
        "task_id": message.task_id,
        "routed_event_id": message.routed_event_id,
        "labels": dict(message.labels),
        "related": [r.model_dump(mode="json") for r in message.related],
        "earliest_feasible": message.earliest_feasible.isoformat()
        if message.earliest_feasible
        else None,
        "decision": {
            "route_id": d.route_id,
            "team": d.team,
            "department": d.department,
            "reason": d.reason,
            "sla": d.sla,
            "clocks": clocks_to_dict(d.clocks),
            "group_key": d.group_key,
            "labels": dict(d.labels),
            "capacity": None
            if d.capacity is None
            else {
                "line_label": d.capacity.line_label,
                "quantity_label": d.capacity.quantity_label,
                "due_label": d.capacity.due_label,
            },
            "escalate_to": d.escalate_to,
        },
    }
    return _dump(body)


def decode_decision(body: Mapping[str, Any]) -> DecisionMessage:
    d, text = body["decision"], body["text"]
    capacity = d.get("capacity")
    decision = Decision(
        route_id=d["route_id"],
        team=d["team"],
        department=d.get("department"),
        reason=d["reason"],
        sla=d.get("sla"),
        clocks=clocks_from_dict(d.get("clocks")),
        group_key=d["group_key"],
        labels=dict(d.get("labels") or {}),
        capacity=None if capacity is None else Capacity(**capacity),
        escalate_to=d.get("escalate_to"),
    )
    feasible = body.get("earliest_feasible")
    return DecisionMessage(
        event=CloudEvent.model_validate(body["event"]),
        account=body["account"],
        text=TaskText(
            Priority(text["priority"]),
            text.get("component"),
            text["subject"],
            text["description"],
            text["requester_email"],
        ),
        rules_version=body["rules_version"],
        task_id=body["task_id"],
        routed_event_id=body["routed_event_id"],
        decision=decision,
        labels=dict(body.get("labels") or {}),
        related=tuple(RelatedTask.model_validate(r) for r in body.get("related") or []),
        earliest_feasible=date.fromisoformat(feasible) if feasible else None,
    )


def with_feasibility(message: DecisionMessage, earliest: date | None) -> DecisionMessage:
    return DecisionMessage(**{**message.__dict__, "earliest_feasible": earliest})


def close_message(task_id: str, state: str, at: datetime) -> bytes:
    return _dump({"kind": "close", "task_id": task_id, "state": state, "at": at.isoformat()})


def load(value: bytes | None) -> dict[str, Any]:
    """An internal message; anything else is poison."""
    if value is None:
        raise PoisonMessageError("message has no value", "EmptyMessage")
    try:
        body = json.loads(value)
    except ValueError as exc:
        raise PoisonMessageError(f"value is not JSON: {exc}", "InvalidJson") from exc
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise PoisonMessageError("not a router message (no kind)", "InvalidRouterMessage")
    return body


def _dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- SLA clocks ------------------------------------------------------------------------


def clocks_to_dict(clocks: SlaClocks | None) -> dict[str, Any] | None:
    if clocks is None:
        return None
    return {
        name: None
        if clock is None
        else {
            "budget_s": clock.budget.total_seconds(),
            "warn": clock.warn.isoformat(),
            "due": clock.due.isoformat(),
        }
        for name, clock in (("acknowledge", clocks.acknowledge), ("resolve", clocks.resolve))
    }


def clocks_from_dict(body: Mapping[str, Any] | None) -> SlaClocks | None:
    if body is None:
        return None

    def clock(name: str) -> SlaClock | None:
        c = body.get(name)
        if c is None:
            return None
        return SlaClock(
            name,
            timedelta(seconds=float(c["budget_s"])),
            datetime.fromisoformat(c["warn"]),
            datetime.fromisoformat(c["due"]),
        )

    return SlaClocks(clock("acknowledge"), clock("resolve"))


@dataclass(frozen=True)
class OpenClock:
    """A task whose SLA clocks run: what the timer needs to signal and escalate it."""

    task_id: str
    team: str
    escalate_to: str | None
    key: str  # the Kafka key of the task's events (its account)
    clocks: SlaClocks
    routed: dict[str, Any]  # the task.routed event, to re-route it on escalation
    acknowledged: bool = False
    resolved: bool = False
    already: tuple[str, ...] = ()
    generation: int = 0  # restarts by reassignment; a signal of an older one is not this one's
    closed_at: datetime | None = None  # resolved or rejected: kept a while, for a reopen

    def to_json(self) -> str:
        return json.dumps(
            {
                "task_id": self.task_id,
                "team": self.team,
                "escalate_to": self.escalate_to,
                "key": self.key,
                "clocks": clocks_to_dict(self.clocks),
                "routed": self.routed,
                "acknowledged": self.acknowledged,
                "resolved": self.resolved,
                "already": list(self.already),
                "generation": self.generation,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> OpenClock:
        body = json.loads(text)
        clocks = clocks_from_dict(body["clocks"])
        assert clocks is not None
        return cls(
            task_id=body["task_id"],
            team=body["team"],
            escalate_to=body.get("escalate_to"),
            key=body["key"],
            clocks=clocks,
            routed=body["routed"],
            acknowledged=bool(body.get("acknowledged")),
            resolved=bool(body.get("resolved")),
            already=tuple(body.get("already") or ()),
            generation=int(body.get("generation") or 0),
            closed_at=datetime.fromisoformat(body["closed_at"]) if body.get("closed_at") else None,
        )

    def due(self, now: datetime) -> tuple[SlaEvent, ...]:
        return self.clocks.due_events(
            now, acknowledged=self.acknowledged, resolved=self.resolved, already=set(self.already)
        )


def clock_start(clock: OpenClock) -> bytes:
    return _dump({"kind": "start", "clock": json.loads(clock.to_json())})


def clock_stop(task_id: str, event_type: str, at: datetime) -> bytes:
    return _dump({"kind": "stop", "task_id": task_id, "type": event_type, "at": at.isoformat()})


def clock_emitted(task_id: str, key: str, generation: int = 0) -> bytes:
    return _dump({"kind": "emitted", "task_id": task_id, "key": key, "generation": generation})


def clock_reopen(task_id: str, *, message: str, at: datetime, event_id: str) -> bytes:
    """A ``task.reopened`` for the task's clock: restart it, route the task again."""
    body = {"kind": "reopen", "task_id": task_id, "message": message, "at": at.isoformat()}
    return _dump({**body, "event_id": event_id})


def clock_reassign(task_id: str, *, team: str, message: str, at: datetime, event_id: str) -> bytes:
    """A ``task.reassigned`` for the task's clock: re-route it to ``team``."""
    return _dump(
        {
            "kind": "reassign",
            "task_id": task_id,
            "team": team,
            "message": message,
            "at": at.isoformat(),
            "event_id": event_id,
        }
    )


def group_reassign_message(task_id: str, team: str) -> bytes:
    """For a group (or an account index): the task is now with ``team``."""
    return _dump({"kind": "reassign", "task_id": task_id, "team": team})


def _signal_id(type_: str, clock: OpenClock, key: str, *extra: str) -> str:
    """A signal's id; the first generation keeps the ids it always had."""
    generation = (str(clock.generation),) if clock.generation else ()
    return derived_id(type_, clock.task_id, *extra, key, *generation)


def sla_event(clock: OpenClock, due: SlaEvent) -> CloudEvent:
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


def escalated_event(clock: OpenClock, due: SlaEvent, *, at: datetime) -> CloudEvent | None:
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


def rerouted_event(
    clock: OpenClock,
    *,
    team: str,
    department: str | None,
    reason: str,
    clocks: SlaClocks,
    at: datetime,
    event_id: str,
    reassigned_from: str | None = None,
    reopened: bool = False,
) -> CloudEvent:
    """The task routed again (handed to ``team``, or reopened) with its deadlines from now on."""
    routed = CloudEvent.model_validate(clock.routed)
    task = TaskRouted.model_validate(routed.data)
    acknowledge, resolve = clocks.deadlines
    moved = task.model_copy(
        update={
            "team": team,
            "department": department,
            "reassigned_from": reassigned_from,
            "reopened_at": at if reopened else None,
            "escalated_from": None,
            "reason": reason[:_REASON_MAX],
            "routed_at": at,
            "acknowledge_by": acknowledge,
            "resolve_by": resolve,
            "sla_due": acknowledge or resolve or task.raised_at,
        }
    )
    return envelope(
        type_=TASK_ROUTED,
        source=SOURCE,
        data=moved,
        time=at,
        event_id=event_id,
        subject=clock.task_id,
    )


# --- task.routed -----------------------------------------------------------------------


def routed_event(
    message: DecisionMessage, task: GroupedTask, *, routed_at: datetime, event_id: str
) -> CloudEvent:
    """The ``task.routed`` event of a (grouped) task."""
    d, text, event = message.decision, message.text, message.event
    acknowledge, resolve = d.clocks.deadlines if d.clocks else (None, None)
    routed = TaskRouted(
        task_id=task.task_id,
        source_event_id=event.id if task.event_count == 1 else task.event_ids[0],
        source=event.source,
        team=task.team or d.team,
        rule=d.route_id,
        account=message.account,
        priority=text.priority,
        component=text.component,
        subject=text.subject,
        description=text.description,
        requester_email=text.requester_email,
        raised_at=event.time,
        routed_at=routed_at,
        sla_due=acknowledge or resolve or event.time,
        route_id=d.route_id,
        rules_version=message.rules_version,
        reason=d.reason,
        department=d.department,
        sla_policy=d.sla,
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
        origin_event_id=event.id,
        origin_ref=_origin_ref(event),
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


# --- capacity ----------------------------------------------------------------------------


def decode_capacity(value: bytes | None) -> CapacityUpdate:
    event = decode_cloud_event(value)
    try:
        data = ProductionCapacity.model_validate(event.data)
    except ValidationError as exc:
        raise PoisonMessageError(
            f"invalid production.capacity data: {_summary(exc, prefix='data')}",
            "InvalidProductionCapacity",
        ) from exc
    return CapacityUpdate(
        line=data.line,
        as_of=data.as_of,
        free={day.date: day.units for day in data.free},
        plant=data.plant,
        product_family=data.product_family,
        net_of=frozenset(data.net_of),
    )


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


def _summary(exc: ValidationError, *, prefix: str = "", limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "") or "(value)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
