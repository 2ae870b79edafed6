"""Bytes in: the events the router consumes from ingest, decoded and validated.

What cannot be decoded raises :class:`PoisonMessageError`, which the router
parks on the dead-letter topic with the reason. May import pydantic, schemas
and the core; never faust (``services.router.app`` is the only module that does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ValidationError

from schemas.events import (
    SALES_NOTE,
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    CloudEvent,
    Priority,
    ProductionCapacity,
    SalesNote,
    SupportTicket,
    TicketUpdated,
)
from services.core.capacity import CapacityUpdate
from services.core.errors import InvalidMessageError
from services.core.identity import resolve_account
from services.core.labels import routing_labels

SERVICE: Final = "router"
_REASON_LIMIT: Final = 2000
ACCOUNT_LABEL: Final = "account"


class PoisonMessageError(InvalidMessageError):
    """A message the router can never process; it goes to the dead-letter topic."""

    reason_limit = _REASON_LIMIT


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
    asker = data.rep_email or data.customer_email or ""  # an outcome may come without a rep
    text = TaskText(Priority.NORMAL, None, data.subject, data.body, asker)
    return str(account), text


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


def _summary(exc: ValidationError, *, prefix: str = "", limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "") or "(value)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
