"""HubSpot webhook subscription events -> ``sales.note`` (deal outcomes, lead changes).

A HubSpot app's webhook POSTs a JSON array of events, each ``{eventId, subscriptionId,
portalId, appId, occurredAt (epoch ms), subscriptionType, attemptNumber, objectId,
propertyName, propertyValue, changeSource}`` (Webhooks API v3,
https://developers.hubspot.com/docs/api/webhooks). They carry ids, not records, so:

- ``deal.propertyChange`` of ``dealstage``: ``closedwon`` -> ``deal_won``, ``closedlost``
  -> ``deal_lost`` (reason ``other``: the reason is another property), else the deal is an
  ``opportunity``; ``deal.creation`` -> ``opportunity``.
- ``contact.creation`` -> a new lead (``NEW`` in the lead status map);
  ``contact.propertyChange`` of ``hs_lead_status`` / ``lifecyclestage`` -> that status.

The account is the HubSpot object (``company:hubspot-<portal>-<type>-<id>``) until the
alias map links it. Every other subscription is refused with a 422 naming
``subscriptionType`` (or ``propertyName``): subscribe the app only to these. The event id
is derived from (portalId, eventId), so HubSpot's retries are one event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.events import SalesIntent
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    get,
    instant,
    need_text,
    obj,
    text,
)
from services.ingest.adapters.crm import lead_status, note

SOURCE = "/sources/hubspot"
STATUS_PROPERTIES = ("hs_lead_status", "lifecyclestage")
Reader = Callable[[dict[str, Any], Loc, AdapterContext], dict[str, Any]]


def is_subscription_batch(payload: object) -> bool:
    """A JSON array whose first item names a ``subscriptionType``: HubSpot's webhook shape."""
    return (
        isinstance(payload, list)
        and bool(payload)
        and isinstance(payload[0], dict)
        and "subscriptionType" in payload[0]
    )


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    if not isinstance(payload, list) or not payload:
        raise AdapterError.at(("body",), "must be a non-empty list of events", "list_type")
    return [_event(item, ("body", i), ctx) for i, item in enumerate(payload)]


def _event(payload: object, loc: Loc, ctx: AdapterContext) -> Normalised:
    data = obj(payload, loc)
    kind = need_text(data, "subscriptionType", loc)
    reader = READERS.get(kind)
    if reader is None:
        handled = ", ".join(READERS)
        msg = f"subscription {kind!r} is not handled (subscribe the app to {handled})"
        raise AdapterError.at((*loc, "subscriptionType"), msg, "unsupported")
    portal, event_id = need_text(data, "portalId", loc), need_text(data, "eventId", loc)
    object_id = need_text(data, "objectId", loc)
    fields = reader(data, loc, ctx) | _common(data, kind, object_id, loc, ctx)
    return note(fields, source=SOURCE, id_parts=("event", portal, event_id), ctx=ctx, loc=loc)


def _common(
    data: dict[str, Any], kind: str, object_id: str, loc: Loc, ctx: AdapterContext
) -> dict[str, Any]:
    portal = need_text(data, "portalId", loc)
    object_type = kind.partition(".")[0]
    value = text(get(data, "propertyValue"), (*loc, "propertyValue"))
    change = f"{get(data, 'propertyName')} -> {value}" if value else kind
    return {
        "note_id": object_id,
        "company_id": f"hubspot-{portal}-{object_type}-{object_id}",
        "subject": f"HubSpot {object_type} {object_id}: {change}",
        "body": f"{kind} ({get(data, 'changeSource') or 'unknown source'})",
        "created_at": instant(get(data, "occurredAt"), (*loc, "occurredAt"), ctx),
    }


def _property(data: dict[str, Any], loc: Loc, allowed: tuple[str, ...]) -> str:
    name = need_text(data, "propertyName", loc)
    if name not in allowed:
        msg = f"property {name!r} is not handled (subscribe to {', '.join(allowed)})"
        raise AdapterError.at((*loc, "propertyName"), msg, "unsupported")
    return need_text(data, "propertyValue", loc)


def _deal_stage(data: dict[str, Any], loc: Loc, ctx: AdapterContext) -> dict[str, Any]:
    stage = _property(data, loc, ("dealstage",))
    fields = _deal(data, loc, ctx) | {"stage": stage}
    if stage.lower() == "closedwon":
        return fields | {"intent": SalesIntent.DEAL_WON, "lead_status": None}
    if stage.lower() == "closedlost":
        return fields | {
            "intent": SalesIntent.DEAL_LOST,
            "lead_status": None,
            "loss_reason": "other",
        }
    return fields


def _deal(data: dict[str, Any], loc: Loc, ctx: AdapterContext) -> dict[str, Any]:
    return {
        "intent": SalesIntent.LEAD_STATUS_CHANGED,
        "lead_status": "opportunity",
        "opportunity_id": need_text(data, "objectId", loc),
    }


def _contact_status(data: dict[str, Any], loc: Loc, ctx: AdapterContext) -> dict[str, Any]:
    value = _property(data, loc, STATUS_PROPERTIES)
    status = lead_status(value, (*loc, "propertyValue"), ctx)
    return _contact(data, loc, ctx) | {"lead_status": status, "stage": value}


def _contact(data: dict[str, Any], loc: Loc, ctx: AdapterContext) -> dict[str, Any]:
    return {
        "intent": SalesIntent.LEAD_STATUS_CHANGED,
        "lead_status": lead_status("NEW", (*loc, "subscriptionType"), ctx),
        "stage": "NEW",
        "contact_id": need_text(data, "objectId", loc),
    }


READERS: dict[str, Reader] = {
    "deal.propertyChange": _deal_stage,
    "deal.creation": _deal,
    "contact.creation": _contact,
    "contact.propertyChange": _contact_status,
}
