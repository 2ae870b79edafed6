"""The router's own topics (``<app id>-<suffix>``, see ``schemas.topics.router_topic``):
typed messages, and their JSON with a ``kind``, byte for byte as the router always wrote it.

- ``-groups`` (key: group key): ``decision`` (a ``DecisionMessage``: one routing
  decision for one event, with the event itself); ``close`` (``TaskClosed``) and
  ``reassign`` (``TaskHanded``) for the group's task.
- ``-accounts`` (key: account): ``add`` (``TaskIndexed``), ``close``
  (``TaskDropped``), ``reassign`` (``TaskHanded``).
- ``-capacity`` (key: product line): a capacity-checked ``decision``.
- ``-clocks`` (key: task id): see ``services.router.clocks``.

May import pydantic, schemas and the core; never faust.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from schemas.events import TASK_ROUTED, CloudEvent, Priority, RelatedTask, derived_id
from services.core.grouping import (
    AccountChange,
    GroupChange,
    TaskClosed,
    TaskDropped,
    TaskHanded,
    TaskIndexed,
)
from services.core.routetree import Capacity
from services.core.routing import Decision
from services.core.sla import SlaClock, SlaClocks
from services.router.inbound import Incoming, PoisonMessageError, TaskText


def task_id_for(event_id: str, route_id: str | None = None, first: bool = True) -> str:
    """The first decision's task is ``derived_id("task", event id)``; others add the route."""
    extra = () if first or route_id is None else (route_id,)
    return derived_id("task", event_id, *extra)


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
    planning: Mapping[str, Any] | None = None  # a rush order that did not fit (PlanningRequest)
    again: bool = False  # a request routed before, come again (an update): it opens no task


def decision_messages(
    incoming: Incoming,
    decisions: Sequence[Decision],
    *,
    rules_version: str,
    related: Sequence[RelatedTask] = (),
) -> list[DecisionMessage]:
    """One message per decision; the first keeps the ids derived from the event alone."""
    return [
        DecisionMessage(
            event=incoming.event,
            account=incoming.account,
            text=incoming.text,
            rules_version=rules_version,
            task_id=task_id_for(incoming.event.id, decision.route_id, first=n == 0),
            routed_event_id=_routed_id(incoming.event.id, decision.route_id, first=n == 0),
            decision=decision,
            labels=incoming.labels,
            related=tuple(related),
        )
        for n, decision in enumerate(decisions)
    ]


def _routed_id(event_id: str, route_id: str, *, first: bool) -> str:
    if first:
        return derived_id(TASK_ROUTED, event_id)
    return derived_id(TASK_ROUTED, event_id, route_id)


def encode_decision(message: DecisionMessage) -> bytes:
    feasible = message.earliest_feasible
    body = {
        "kind": "decision",
        "event": json.loads(message.event.to_bytes()),
        "account": message.account,
        "text": _text_body(message.text),
        "rules_version": message.rules_version,
        "task_id": message.task_id,
        "routed_event_id": message.routed_event_id,
        "labels": dict(message.labels),
        "related": [r.model_dump(mode="json") for r in message.related],
        "earliest_feasible": feasible.isoformat() if feasible else None,
        "decision": _decision_body(message.decision),
        **({"planning": dict(message.planning)} if message.planning else {}),
        **({"again": True} if message.again else {}),
    }
    return dump(body)


def _text_body(text: TaskText) -> dict[str, Any]:
    return {
        "priority": text.priority.value,
        "component": text.component,
        "subject": text.subject,
        "description": text.description,
        "requester_email": text.requester_email,
    }


def _decision_body(d: Decision) -> dict[str, Any]:
    return {
        "route_id": d.route_id,
        "team": d.team,
        "department": d.department,
        "reason": d.reason,
        "sla": d.sla,
        "clocks": clocks_to_dict(d.clocks),
        "group_key": d.group_key,
        "labels": dict(d.labels),
        "capacity": _capacity_body(d.capacity),
        "escalate_to": d.escalate_to,
    }


def _capacity_body(capacity: Capacity | None) -> dict[str, str] | None:
    if capacity is None:
        return None
    return {
        "line_label": capacity.line_label,
        "quantity_label": capacity.quantity_label,
        "due_label": capacity.due_label,
    }


def decode_decision(body: Mapping[str, Any]) -> DecisionMessage:
    feasible = body.get("earliest_feasible")
    return DecisionMessage(
        event=CloudEvent.model_validate(body["event"]),
        account=body["account"],
        text=_text(body["text"]),
        rules_version=body["rules_version"],
        task_id=body["task_id"],
        routed_event_id=body["routed_event_id"],
        decision=_decision(body["decision"]),
        labels=dict(body.get("labels") or {}),
        related=tuple(RelatedTask.model_validate(r) for r in body.get("related") or []),
        earliest_feasible=date.fromisoformat(feasible) if feasible else None,
        planning=body.get("planning"),
        again=bool(body.get("again")),
    )


def _text(text: Mapping[str, Any]) -> TaskText:
    return TaskText(
        Priority(text["priority"]),
        text.get("component"),
        text["subject"],
        text["description"],
        text["requester_email"],
    )


def _decision(d: Mapping[str, Any]) -> Decision:
    capacity = d.get("capacity")
    return Decision(
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


def with_feasibility(message: DecisionMessage, earliest: date | None) -> DecisionMessage:
    return replace(message, earliest_feasible=earliest)


# --- changes to a group's task and an account's index --------------------------------


def encode_change(change: GroupChange | AccountChange) -> bytes:
    return dump(change_body(change))


def change_body(change: GroupChange | AccountChange) -> dict[str, Any]:
    if isinstance(change, TaskClosed):
        at = change.at.isoformat()
        return {"kind": "close", "task_id": change.task_id, "state": change.state, "at": at}
    if isinstance(change, TaskHanded):
        return {"kind": "reassign", "task_id": change.task_id, "team": change.team}
    if isinstance(change, TaskIndexed):
        return {
            "kind": "add",
            "task_id": change.task_id,
            "team": change.team,
            "state": change.state,
        }
    return {"kind": "close", "task_id": change.task_id}


def decode_group_message(value: bytes | None) -> DecisionMessage | GroupChange:
    body = load(value)
    if body["kind"] == "close":
        at = datetime.fromisoformat(body["at"])
        return TaskClosed(body["task_id"], str(body.get("state")), at)
    if body["kind"] == "reassign":
        return TaskHanded(body["task_id"], str(body["team"]))
    return decode_decision(body)


def decode_account_change(value: bytes | None) -> AccountChange | None:
    """An account index change; None for a kind this router does not know."""
    body = load(value)
    kind = body["kind"]
    if kind == "add":
        return TaskIndexed(body["task_id"], body["team"], body.get("state", "open"))
    if kind == "close":
        return TaskDropped(body["task_id"])
    if kind == "reassign":
        return TaskHanded(body["task_id"], body["team"])
    return None


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


def dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
