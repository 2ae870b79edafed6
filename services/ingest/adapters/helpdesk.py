"""What Zendesk and Freshdesk tickets have in common once read: a ticket and maybe an update.

A webhook about a ticket yields its ``support.ticket`` event (id from the helpdesk, the
ticket id: the same for every webhook about it, so the router keeps the first) and, when
the webhook is about a change, a ``support.ticket_updated`` event linked to it (id from
the helpdesk, the ticket id and the update time: a retried webhook is the same update).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas import topics
from schemas.events import (
    SUPPORT_TICKET,
    SUPPORT_TICKET_UPDATED,
    Component,
    Priority,
    SupportTicket,
    TicketChange,
    TicketUpdated,
    derived_id,
)
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    account,
    event,
    iso,
    validated,
)
from services.ingest.adapters.labels import LabelMap, label_value

SUBJECT_MAX = 500
TEXT_MAX = 20_000


@dataclass(frozen=True)
class TicketUpdate:
    change: TicketChange
    comment: str | None = None
    comment_public: bool | None = None
    previous_priority: Priority | None = None
    previous_status: str | None = None
    ref: str | None = None  # the helpdesk's own id of this change (else its time identifies it)


@dataclass(frozen=True)
class HelpdeskTicket:
    """A ticket as read from a helpdesk payload, before validation against the contract."""

    source: str
    ticket_id: str
    subject: str | None
    description: str
    requester_email: str | None
    priority: Priority
    status: str | None = None
    organization: str | None = None
    company_id: str | None = None
    crm_account_id: str | None = None
    company_domains: list[str] | None = None  # the organisation's domains (Zendesk)
    component: str | None = None
    tags: list[str] | None = None
    custom_fields: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    update: TicketUpdate | None = None
    loc: Loc = field(default=("body",))


def ticket_events(ticket: HelpdeskTicket, ctx: AdapterContext) -> list[Normalised]:
    ticket = labelled(ticket, ctx.labels)
    contract = validated(
        SupportTicket,
        {
            "ticket_id": ticket.ticket_id,
            "subject": clip(ticket.subject or f"ticket {ticket.ticket_id}", SUBJECT_MAX),
            "description": clip(ticket.description, TEXT_MAX),
            "requester_email": ticket.requester_email,
            "priority": ticket.priority,
            "component": ticket.component,
            "created_at": ticket.created_at,
            "status": ticket.status,
            "organization": ticket.organization,
            "crm_account_id": ticket.crm_account_id,
            "company_id": ticket.company_id,
            "company_domains": ticket.company_domains,
            "tags": ticket.tags,
            "custom_fields": ticket.custom_fields,
            "updated_at": ticket.updated_at,
        },
        ticket.loc,
    )
    key = account(
        crm_id=contract.crm_account_id,
        company_id=contract.company_id,
        email=contract.requester_email,
    )
    raised = event(
        topic=topics.INGEST_SUPPORT,
        key=key,
        type_=SUPPORT_TICKET,
        source=ticket.source,
        data=contract,
        time=contract.created_at or ctx.received_at,
        id_parts=(ticket.ticket_id,),
        subject=ticket.ticket_id,
        sla_start=ctx.sla_start(contract.created_at),
    )
    if ticket.update is None:
        return [raised]
    if ticket.updated_at is None:
        raise AdapterError.at((*ticket.loc, "updated_at"), "an update needs its time", "missing")
    return [raised, _updated(ticket, ticket.update, ticket.updated_at, contract, key)]


def _updated(
    ticket: HelpdeskTicket,
    update: TicketUpdate,
    updated_at: datetime,
    contract: SupportTicket,
    key: str,
) -> Normalised:
    data = validated(
        TicketUpdated,
        {
            "ticket_id": ticket.ticket_id,
            "ticket_event_id": derived_id(SUPPORT_TICKET, ticket.source, ticket.ticket_id),
            "requester_email": contract.requester_email,
            "change": update.change,
            "comment": clip(update.comment, TEXT_MAX) if update.comment else None,
            "comment_public": update.comment_public,
            "priority": contract.priority,
            "previous_priority": update.previous_priority,
            "status": contract.status,
            "previous_status": update.previous_status,
            "crm_account_id": contract.crm_account_id,
            "company_id": contract.company_id,
            "updated_at": updated_at,
        },
        ticket.loc,
    )
    return event(
        topic=topics.INGEST_SUPPORT,
        key=key,
        type_=SUPPORT_TICKET_UPDATED,
        source=ticket.source,
        data=data,
        time=updated_at,
        id_parts=(ticket.ticket_id, update.ref or iso(updated_at)),
        subject=ticket.ticket_id,
    )


COMPONENT = TypeAdapter(Component)


def labelled(ticket: HelpdeskTicket, labels: LabelMap) -> HelpdeskTicket:
    """The ticket with the source's configured labels read from its custom fields and tags.

    What the payload already says wins; ``component`` is the ticket's component, any
    other label a custom field of that name (``custom_fields.<name>`` to the router).
    """
    component, custom = ticket.component, dict(ticket.custom_fields or {})
    for name, rule in labels.items():
        found = label_value(rule, ticket.custom_fields, ticket.tags)
        if found is None:
            continue
        if name == "component" and component is None:
            component = _component(found, ticket.loc)
        elif name != "component":
            custom.setdefault(name, found[0])
    return replace(ticket, component=component, custom_fields=custom or None)


def _component(found: tuple[str, tuple[str | int, ...]], loc: Loc) -> str:
    """A component read through the label map, refused naming the helpdesk's own field."""
    value, where = found
    try:
        return str(COMPONENT.validate_python(value))
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        msg = f"maps to component {value!r}, which is not a component name ({reason})"
        raise AdapterError.at((*loc, *where), msg, "component") from None


def is_update(created_at: datetime | None, updated_at: datetime | None) -> bool:
    """A helpdesk stamps a new ticket with equal created and updated times."""
    return created_at is not None and updated_at is not None and updated_at > created_at


def clip(value: str, limit: int) -> str:
    """Text cut to ``limit`` characters (an ellipsis marks the cut), never refused for length."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
