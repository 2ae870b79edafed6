"""Bytes in, bytes out: decode a ``support.ticket`` event, encode ``task.routed``.

No Faust here (``app.py`` is the only module that imports it): the agent calls
:func:`decode_ticket`, the core's ``RuleSet.route``, then :func:`routed_event`.
What cannot be decoded raises :class:`PoisonMessageError`, which the agent
parks on the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import ValidationError

from schemas.events import (
    SUPPORT_TICKET,
    TASK_ROUTED,
    CloudEvent,
    SupportTicket,
    TaskRouted,
    derived_id,
    envelope,
)
from services.core.errors import HandoffError
from services.core.identity import account_from_email
from services.core.rules import Route

SOURCE: Final = "handoff/router"
SERVICE: Final = "router"
_REASON_LIMIT: Final = 2000


class PoisonMessageError(HandoffError):
    """A message the router can never process; it goes to the dead-letter topic."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason[:_REASON_LIMIT]
        self.error_type = error_type


@dataclass(frozen=True)
class IncomingTicket:
    """A decoded, validated ticket event and the account it belongs to."""

    event: CloudEvent
    ticket: SupportTicket
    account: str


def decode_ticket(value: bytes | None) -> IncomingTicket:
    """The ticket in a message value, or :class:`PoisonMessageError` saying why not."""
    if value is None:
        raise PoisonMessageError("message has no value", "EmptyMessage")
    try:
        event = CloudEvent.from_bytes(value)
    except ValidationError as exc:
        not_json = [e["msg"] for e in exc.errors() if e["type"] == "json_invalid"]
        if not_json:
            detail = not_json[0].removeprefix("Invalid JSON: ")
            raise PoisonMessageError(f"value is not JSON: {detail}", "InvalidJson") from exc
        raise PoisonMessageError(f"not a CloudEvent: {_summary(exc)}", "InvalidCloudEvent") from exc
    if event.type != SUPPORT_TICKET:
        raise PoisonMessageError(
            f"event type {event.type!r} is not {SUPPORT_TICKET!r}", "UnexpectedEventType"
        )
    try:
        ticket = SupportTicket.model_validate(event.data)
        account = account_from_email(ticket.requester_email)
    except ValidationError as exc:
        raise PoisonMessageError(
            f"invalid {SUPPORT_TICKET} data: {_summary(exc, prefix='data')}", "InvalidSupportTicket"
        ) from exc
    except ValueError as exc:
        raise PoisonMessageError(
            f"invalid {SUPPORT_TICKET} data: {exc}", "InvalidSupportTicket"
        ) from exc
    return IncomingTicket(event=event, ticket=ticket, account=account)


def task_id_for(event_id: str) -> str:
    return derived_id("task", event_id)


def routed_event(incoming: IncomingTicket, route: Route, *, routed_at: datetime) -> CloudEvent:
    """The ``task.routed`` event for a ticket; same ticket event, same ids."""
    event, ticket = incoming.event, incoming.ticket
    task = TaskRouted(
        task_id=task_id_for(event.id),
        source_event_id=event.id,
        source=event.source,
        team=route.team,
        rule=route.rule,
        account=incoming.account,
        priority=ticket.priority,
        component=ticket.component,
        subject=ticket.subject,
        description=ticket.description,
        requester_email=str(ticket.requester_email),
        raised_at=event.time,
        routed_at=routed_at,
        sla_due=route.sla_due,
    )
    return envelope(
        type_=TASK_ROUTED,
        source=SOURCE,
        data=task,
        time=routed_at,
        event_id=derived_id(TASK_ROUTED, event.id),
        subject=task.task_id,
    )


def _summary(exc: ValidationError, *, prefix: str = "", limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "") or "(value)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
