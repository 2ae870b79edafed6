"""handoff's own JSON: a SupportTicket, a SalesNote or a ProductionCapacity as the body."""

from __future__ import annotations

import uuid
from typing import Any

from schemas import topics
from schemas.events import (
    PRODUCTION_CAPACITY,
    SALES_NOTE,
    SUPPORT_TICKET,
    CloudEvent,
    ProductionCapacity,
    SalesNote,
    SupportTicket,
    derived_id,
    envelope,
)
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    account,
    event,
    iso,
    obj,
    usable,
    validated,
)

SUPPORT_SOURCE = "/sources/support"
SALES_SOURCE = "/sources/sales"
CAPACITY_SOURCE = "/sources/capacity"


def ticket(payload: object, ctx: AdapterContext) -> list[Normalised]:
    """A ``support.ticket``; its id is derived from ``ticket_id`` when given (else random)."""
    model = validated(SupportTicket, obj(payload, ("body",)))
    return [ticket_normalised(model, ctx)]


def ticket_normalised(model: SupportTicket, ctx: AdapterContext) -> Normalised:
    for name in ("created_at", "updated_at"):
        if (moment := getattr(model, name)) is not None:
            usable(moment, ("body", name), ctx)
    key = account(
        crm_id=model.crm_account_id, company_id=model.company_id, email=model.requester_email
    )
    if model.ticket_id:
        event_id = derived_id(SUPPORT_TICKET, SUPPORT_SOURCE, model.ticket_id)
    else:
        event_id = str(uuid.uuid4())
    cloud: CloudEvent = envelope(
        type_=SUPPORT_TICKET,
        source=SUPPORT_SOURCE,
        data=model,
        time=model.created_at or ctx.received_at,
        event_id=event_id,
        subject=model.ticket_id,
        sla_start=ctx.sla_start(model.created_at),
    )
    return Normalised(topic=topics.INGEST_SUPPORT, key=key, event=cloud)


def sales_note(payload: object, ctx: AdapterContext) -> list[Normalised]:
    """A ``sales.note``; without a ``note_id`` its id is derived from its content."""
    data = obj(payload, ("body",))
    model = validated(SalesNote, data)
    note = model.model_dump_json() if model.note_id is None else model.note_id
    return [note_normalised(model, SALES_SOURCE, ctx, (note,))]


def note_normalised(
    model: SalesNote, source: str, ctx: AdapterContext, id_parts: tuple[str, ...]
) -> Normalised:
    if model.created_at is not None:
        usable(model.created_at, ("body", "created_at"), ctx)
    key = account(
        crm_id=model.crm_account_id, company_id=model.company_id, email=model.customer_email
    )
    return event(
        topic=topics.INGEST_SALES,
        key=key,
        type_=SALES_NOTE,
        source=source,
        data=model,
        time=model.created_at or ctx.received_at,
        id_parts=id_parts,
        subject=model.note_id,
        sla_start=ctx.sla_start(model.created_at),
    )


def capacity(payload: object, ctx: AdapterContext) -> list[Normalised]:
    """A ``production.capacity``; one id per (plant, line, product family, as_of)."""
    model = validated(ProductionCapacity, obj(payload, ("body",)))
    return [capacity_normalised(model, ctx)]


def capacity_normalised(
    model: ProductionCapacity, ctx: AdapterContext, loc: Loc = ("body", "as_of")
) -> Normalised:
    usable(model.as_of, loc, ctx)
    family = model.product_family or ""
    return event(
        topic=topics.INGEST_CAPACITY,
        key=capacity_key(model.plant, model.line),
        type_=PRODUCTION_CAPACITY,
        source=CAPACITY_SOURCE,
        data=model,
        time=model.as_of,
        id_parts=(model.plant, model.line, family, iso(model.as_of)),
        subject=f"{model.plant}/{model.line}",
    )


def capacity_key(plant: str, line: str) -> str:
    """Capacity has no customer: its key keeps one line's updates in order."""
    return f"capacity:{plant}/{line}"


def any_kind(payload: object, ctx: AdapterContext) -> list[Normalised]:
    """A line of a handoff JSON Lines file: a ticket, a sales note or a capacity update.

    The kind is told by its fields: ``intent`` is a sales note, ``plant`` capacity,
    anything else a ticket.
    """
    data: dict[str, Any] = obj(payload, ("body",))
    if "intent" in data:
        return sales_note(data, ctx)
    if "plant" in data:
        return capacity(data, ctx)
    if "subject" not in data and "requester_email" not in data:
        msg = "not a handoff ticket, sales note (intent) or capacity update (plant)"
        raise AdapterError.at(("body",), msg, "unknown_kind")
    return ticket(data, ctx)
