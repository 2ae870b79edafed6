"""HubSpot CRM objects -> ``sales.note``.

The body is a CRM object as HubSpot's v3 API (or a workflow's "Send a webhook" action)
serialises it: ``{"id", "properties": {...}, "associations": {"companies": {"results":
[{"id"}]}, "contacts": ...}, "updatedAt"}``, or a JSON array of them; the rep is
``"owner": {"email"}`` (as the owners API gives it) or the ``handoff_rep_email``
property. ``"objectType"`` says what it is, else the properties do:

- a deal (``dealstage``): ``closedwon`` is ``deal_won``, ``closedlost`` is ``deal_lost``
  with ``closed_lost_reason`` on the loss taxonomy, any other stage
  ``lead_status_changed`` to ``opportunity``; ``amount`` (a numeric string),
  ``deal_currency_code`` and ``closedate`` kept. Id: (deal id, stage).
- a note (``hs_note_body``, HTML): intent from the ``handoff_intent`` property, with
  ``product_line``, ``quantity`` and ``due_date``. Id: (note id, ``hs_lastmodifieddate``).
- a contact (``lifecyclestage``): ``lead_status_changed`` (marketingqualifiedlead ->
  MQL, salesqualifiedlead -> SQL, opportunity, customer -> won). Id: (contact id, stage).

A subscription webhook's event list (``[{"subscriptionType", "objectId", ...}]``) is read
by :mod:`services.ingest.adapters.hubspot_webhooks`. A deal or contact without an owner is
accepted (an outcome needs no rep); a note asking for something is refused at
``hubspot_owner_id``. ``hs_lead_status`` (else ``lifecyclestage``) goes through the lead
status map.
"""

from __future__ import annotations

from typing import Any

from schemas.events import SalesIntent
from services.ingest.adapters import hubspot_webhooks
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    day,
    decimal,
    get,
    instant,
    integer,
    iso,
    loss_reason,
    need_text,
    obj,
    text,
)
from services.ingest.adapters.crm import intent, lead_status, note
from services.ingest.adapters.markup import html_to_text

SOURCE = "/sources/hubspot"


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    if hubspot_webhooks.is_subscription_batch(payload):
        return hubspot_webhooks.adapt(payload, ctx)
    if isinstance(payload, list):
        if not payload:
            raise AdapterError.at(("body",), "an empty list has no object", "too_short")
        return [e for i, item in enumerate(payload) for e in _object(item, ("body", i), ctx)]
    return _object(payload, ("body",), ctx)


def _object(payload: object, loc: Loc, ctx: AdapterContext) -> list[Normalised]:
    data = obj(payload, loc)
    props = obj(data.get("properties"), (*loc, "properties"))
    kind = (text(get(data, "objectType"), (*loc, "objectType")) or _kind(props)).lower()
    handler = {"deal": _deal, "deals": _deal, "note": _note, "notes": _note,
               "contact": _contact, "contacts": _contact}  # fmt: skip
    if kind not in handler:
        msg = f"HubSpot object type {kind!r} is not handled (deal, note, contact)"
        raise AdapterError.at((*loc, "objectType"), msg, "unsupported")
    return [handler[kind](data, props, loc, ctx)]


def _deal(data: dict[str, Any], props: dict[str, Any], loc: Loc, ctx: AdapterContext) -> Normalised:
    ploc: Loc = (*loc, "properties")
    object_id = need_text(data, "id", loc)
    stage = need_text(props, "dealstage", ploc)
    fields = _common(data, props, loc, ctx)
    if stage.lower() == "closedwon":
        fields["intent"] = SalesIntent.DEAL_WON
    elif stage.lower() == "closedlost":
        fields["intent"] = SalesIntent.DEAL_LOST
        raw = text(get(props, "closed_lost_reason"), (*ploc, "closed_lost_reason"))
        fields |= {"loss_reason": loss_reason(raw, ctx), "loss_reason_text": raw}
    else:
        fields |= {"intent": SalesIntent.LEAD_STATUS_CHANGED, "lead_status": "opportunity"}
    fields |= {
        "subject": text(get(props, "dealname"), (*ploc, "dealname")) or f"Deal {object_id}",
        "body": html_to_text(text(get(props, "description"), (*ploc, "description")) or "")
        or f"Stage: {stage}",
        "amount": decimal(get(props, "amount"), (*ploc, "amount")),
        "currency": text(get(props, "deal_currency_code"), (*ploc, "deal_currency_code")),
        "due_date": day(get(props, "closedate"), (*ploc, "closedate")),
        "stage": stage,
        "opportunity_id": object_id,
    }
    return note(
        fields,
        source=SOURCE,
        id_parts=("deal", object_id, stage),
        ctx=ctx,
        loc=loc,
        account_loc=_company(loc),
    )


def _note(data: dict[str, Any], props: dict[str, Any], loc: Loc, ctx: AdapterContext) -> Normalised:
    ploc: Loc = (*loc, "properties")
    object_id = need_text(data, "id", loc)
    modified = instant(
        get(props, "hs_lastmodifieddate") or get(data, "updatedAt"),
        (*ploc, "hs_lastmodifieddate"),
        ctx,
    )
    body = html_to_text(text(get(props, "hs_note_body"), (*ploc, "hs_note_body")) or "")
    line = text(get(props, "product_line"), (*ploc, "product_line"))
    fields = _common(data, props, loc, ctx) | {
        "intent": intent(get(props, "handoff_intent"), (*ploc, "handoff_intent")),
        "subject": (body.splitlines() or [f"Note {object_id}"])[0],
        "body": body,
        "product_line": "-".join(line.lower().split()) if line else None,
        "quantity": integer(get(props, "quantity"), (*ploc, "quantity")),
        "due_date": day(get(props, "due_date"), (*ploc, "due_date")),
    }
    version = iso(modified) if modified else ""
    parts = ("note", object_id, version)
    return note(
        fields,
        source=SOURCE,
        id_parts=parts,
        ctx=ctx,
        loc=loc,
        rep_loc=_owner(ploc),
        account_loc=_company(loc),
    )


def _contact(
    data: dict[str, Any], props: dict[str, Any], loc: Loc, ctx: AdapterContext
) -> Normalised:
    ploc: Loc = (*loc, "properties")
    object_id = need_text(data, "id", loc)
    field = "hs_lead_status" if get(props, "hs_lead_status") else "lifecyclestage"
    status = lead_status(get(props, field), (*ploc, field), ctx)
    names = [text(get(props, n), (*ploc, n)) for n in ("firstname", "lastname", "company")]
    fields = _common(data, props, loc, ctx) | {
        "intent": SalesIntent.LEAD_STATUS_CHANGED,
        "lead_status": status,
        "contact_id": object_id,
        "customer_email": text(get(props, "email"), (*ploc, "email")),
        "subject": " ".join(n for n in names if n) or f"Contact {object_id}",
        "body": f"{field}: {get(props, field)}",
        "stage": text(get(props, field), (*ploc, field)),
    }
    parts = ("contact", object_id, status.value)
    email: Loc = (*ploc, "email")
    return note(fields, source=SOURCE, id_parts=parts, ctx=ctx, loc=loc, account_loc=email)


def _common(
    data: dict[str, Any], props: dict[str, Any], loc: Loc, ctx: AdapterContext
) -> dict[str, Any]:
    owner = get(data, "owner")
    rep = text(get(props, "handoff_rep_email"), (*loc, "properties", "handoff_rep_email"))
    if owner is not None:
        rep = text(get(obj(owner, (*loc, "owner")), "email"), (*loc, "owner", "email")) or rep
    created = instant(get(data, "createdAt"), (*loc, "createdAt"), ctx)
    updated = instant(get(data, "updatedAt"), (*loc, "updatedAt"), ctx)
    return {
        "note_id": text(get(data, "id"), (*loc, "id")),
        "rep_email": rep,
        "company_id": _associated(data, "companies", loc),
        "contact_id": _associated(data, "contacts", loc),
        "customer_email": text(get(props, "handoff_customer_email"), (*loc, "properties")),
        "created_at": updated or created,
        "lead_source": text(get(props, "hs_analytics_source"), (*loc, "properties")),
    }


def _company(loc: Loc) -> Loc:
    """Where a missing account is reported: the object's company association."""
    return (*loc, "associations", "companies")


def _owner(ploc: Loc) -> Loc:
    """Where a missing rep is reported: HubSpot's owner property, not handoff's field."""
    return (*ploc, "hubspot_owner_id")


def _associated(data: dict[str, Any], name: str, loc: Loc) -> str | None:
    """The first associated object's id (v3 ``{"results": [{"id"}]}`` or a list of ids)."""
    raw = get(data, "associations")
    if raw is None:
        return None
    assoc = obj(raw, (*loc, "associations")).get(name)
    where: Loc = (*loc, "associations", name)
    if assoc is None:
        return None
    if isinstance(assoc, dict):
        assoc = assoc.get("results")
    if not isinstance(assoc, list):
        raise AdapterError.at(where, "must be a list of ids or {results: [...]}", "list_type")
    if not assoc:
        return None
    first = assoc[0]
    if isinstance(first, dict):
        return text(first.get("id"), (*where, 0, "id"))
    return text(first, (*where, 0))


def _kind(props: dict[str, Any]) -> str:
    if "dealstage" in props:
        return "deal"
    if "hs_note_body" in props:
        return "note"
    if "lifecyclestage" in props or "hs_lead_status" in props:
        return "contact"
    return "unknown"
