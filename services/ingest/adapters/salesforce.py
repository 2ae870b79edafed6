"""Salesforce records -> ``sales.note``.

The body is a record as Salesforce's REST API, a Flow's HTTP callout or an outbound
integration serialises it: ``{"attributes": {"type": "Opportunity"}, "Id": ...}``, or a
JSON array of such records (one event each). Handled types:

- ``Opportunity``: ``StageName`` "Closed Won" (or ``IsWon``) is ``deal_won``, "Closed
  Lost" is ``deal_lost`` with ``Loss_Reason__c`` mapped onto the loss taxonomy; any
  other stage is ``lead_status_changed`` to ``opportunity``. ``Amount``,
  ``CurrencyIsoCode``, ``CloseDate`` and ``AccountId`` are kept. Event id: (record id,
  stage), so one outcome per opportunity however often it is re-sent.
- ``Lead``: ``Status`` through the lead status map (``adapters/lead_statuses.py``:
  "Working - Contacted" is SQL) (``lead_status_changed``); a converted lead keeps its
  ``ConvertedAccountId`` and ``ConvertedOpportunityId`` (lead quality follows the deal).
- Outcomes keep ``StageName`` (``stage``), ``LeadSource``, ``CampaignId`` (``campaign``) and
  the rep's own ``Loss_Reason__c`` text (``loss_reason_text``) behind the mapped reason.
- ``Task`` / ``Note``: an activity whose intent is the ``Handoff_Intent__c`` picklist,
  with ``Product_Line__c``, ``Quantity__c`` and ``Due_Date__c`` for rush orders.
  Event id: (record id, ``LastModifiedDate``).

The rep is ``Owner.Email``; ``WhoId`` is kept as the lead (00Q...) or contact (003...)
id, ``AccountId`` (or a ``WhatId`` starting 001) as the CRM account id.
"""

from __future__ import annotations

from typing import Any

from schemas.events import SalesIntent
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

SOURCE = "/sources/salesforce"
LEAD_PREFIX, CONTACT_PREFIX, ACCOUNT_PREFIX = "00Q", "003", "001"
OPPORTUNITY_PREFIX = "006"


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    if isinstance(payload, list):
        if not payload:
            raise AdapterError.at(("body",), "an empty list has no record", "too_short")
        return [e for i, record in enumerate(payload) for e in _record(record, ("body", i), ctx)]
    return _record(payload, ("body",), ctx)


def _record(payload: object, loc: Loc, ctx: AdapterContext) -> list[Normalised]:
    data = obj(payload, loc)
    kind = _type(data, loc)
    handler = {"Opportunity": _opportunity, "Lead": _lead, "Task": _activity, "Note": _activity}
    if kind not in handler:
        msg = f"Salesforce type {kind!r} is not handled (Opportunity, Lead, Task, Note)"
        raise AdapterError.at((*loc, "attributes", "type"), msg, "unsupported")
    return [handler[kind](data, kind, loc, ctx)]


def _opportunity(data: dict[str, Any], kind: str, loc: Loc, ctx: AdapterContext) -> Normalised:
    record_id = need_text(data, "Id", loc)
    stage = need_text(data, "StageName", loc)
    won = get(data, "IsWon") is True or stage.lower() == "closed won"
    lost = not won and (stage.lower() == "closed lost" or get(data, "IsClosed") is True)
    fields = _common(data, loc, ctx)
    if won:
        fields["intent"] = SalesIntent.DEAL_WON
    elif lost:
        fields["intent"] = SalesIntent.DEAL_LOST
        raw = text(get(data, "Loss_Reason__c"), (*loc, "Loss_Reason__c"))
        fields |= {"loss_reason": loss_reason(raw, ctx), "loss_reason_text": raw}
    else:
        fields |= {"intent": SalesIntent.LEAD_STATUS_CHANGED, "lead_status": "opportunity"}
    fields |= {
        "subject": text(get(data, "Name"), (*loc, "Name")) or f"Opportunity {record_id}",
        "body": _body(data, loc) or f"Stage: {stage}",
        "amount": decimal(get(data, "Amount"), (*loc, "Amount")),
        "currency": text(get(data, "CurrencyIsoCode"), (*loc, "CurrencyIsoCode")),
        "due_date": day(get(data, "CloseDate"), (*loc, "CloseDate")),
        "stage": stage,
        "opportunity_id": record_id,
        "lead_source": text(get(data, "LeadSource"), (*loc, "LeadSource")),
        "campaign": text(get(data, "CampaignId"), (*loc, "CampaignId")),
    }
    parts = (kind, record_id, stage)
    account: Loc = (*loc, "AccountId")
    return note(fields, source=SOURCE, id_parts=parts, ctx=ctx, loc=loc, account_loc=account)


def _lead(data: dict[str, Any], kind: str, loc: Loc, ctx: AdapterContext) -> Normalised:
    record_id = need_text(data, "Id", loc)
    status = lead_status(get(data, "Status"), (*loc, "Status"), ctx)
    fields = _common(data, loc, ctx) | {
        "intent": SalesIntent.LEAD_STATUS_CHANGED,
        "lead_status": status,
        "lead_id": record_id,
        "customer_email": text(get(data, "Email"), (*loc, "Email")),
        "crm_account_id": text(get(data, "ConvertedAccountId"), (*loc, "ConvertedAccountId")),
        "subject": _lead_name(data, loc) or f"Lead {record_id}",
        "body": _body(data, loc) or f"Status: {get(data, 'Status')}",
        "stage": text(get(data, "Status"), (*loc, "Status")),
        "opportunity_id": _converted(data, loc),
        "lead_source": text(get(data, "LeadSource"), (*loc, "LeadSource")),
    }
    parts = (kind, record_id, status.value)
    email: Loc = (*loc, "Email")
    return note(fields, source=SOURCE, id_parts=parts, ctx=ctx, loc=loc, account_loc=email)


def _activity(data: dict[str, Any], kind: str, loc: Loc, ctx: AdapterContext) -> Normalised:
    record_id = need_text(data, "Id", loc)
    modified = instant(get(data, "LastModifiedDate"), (*loc, "LastModifiedDate"), ctx)
    fields = _common(data, loc, ctx) | {
        "intent": intent(get(data, "Handoff_Intent__c"), (*loc, "Handoff_Intent__c")),
        "subject": text(get(data, "Subject") or get(data, "Title"), (*loc, "Subject"))
        or f"{kind} {record_id}",
        "body": _body(data, loc),
        "product_line": _slug(text(get(data, "Product_Line__c"), (*loc, "Product_Line__c"))),
        "quantity": integer(get(data, "Quantity__c"), (*loc, "Quantity__c")),
        "due_date": day(
            get(data, "Due_Date__c") or get(data, "ActivityDate"), (*loc, "Due_Date__c")
        ),
        **_order_context(data, loc),  # issue 11: plant, opportunity and the rep's language
    }
    version = iso(modified) if modified else ""
    parts = (kind, record_id, version)
    where = {"rep_loc": _owner(loc), "account_loc": (*loc, "AccountId")}
    return note(fields, source=SOURCE, id_parts=parts, ctx=ctx, loc=loc, **where)


def _common(data: dict[str, Any], loc: Loc, ctx: AdapterContext) -> dict[str, Any]:
    who = text(get(data, "WhoId"), (*loc, "WhoId")) or ""
    what = text(get(data, "WhatId") or get(data, "ParentId"), (*loc, "WhatId")) or ""
    account = text(get(data, "AccountId"), (*loc, "AccountId"))
    if account is None and what.startswith(ACCOUNT_PREFIX):
        account = what
    owner = get(data, "Owner")
    rep = (
        text(get(obj(owner, (*loc, "Owner")), "Email"), (*loc, "Owner", "Email"))
        if owner is not None
        else None
    )
    contact = get(data, "Who") or get(data, "Contact")
    customer = (
        text(get(obj(contact, (*loc, "Who")), "Email"), (*loc, "Who", "Email"))
        if contact is not None
        else None
    )
    created = instant(get(data, "CreatedDate"), (*loc, "CreatedDate"), ctx)
    modified = instant(get(data, "LastModifiedDate"), (*loc, "LastModifiedDate"), ctx)
    return {
        "note_id": text(get(data, "Id"), (*loc, "Id")),
        "rep_email": rep,
        "customer_email": customer,
        "crm_account_id": account,
        "lead_id": who if who.startswith(LEAD_PREFIX) else None,
        "contact_id": who
        if who.startswith(CONTACT_PREFIX)
        else text(get(data, "ContactId"), (*loc, "ContactId")),
        "created_at": modified or created,
    }


def _order_context(data: dict[str, Any], loc: Loc) -> dict[str, Any]:
    """A rush order's plant (``Plant__c``), its opportunity (a ``WhatId`` starting 006) and
    the rep's language (``Owner.LanguageLocaleKey``, e.g. ``ja`` or ``en_US``)."""
    what = text(get(data, "WhatId"), (*loc, "WhatId")) or ""
    owner = get(data, "Owner")
    language = get(owner, "LanguageLocaleKey") if isinstance(owner, dict) else None
    locale = str(language).split("_")[0].lower() if isinstance(language, str) else None
    return {
        "plant": text(get(data, "Plant__c"), (*loc, "Plant__c")),
        "opportunity_id": what if what.startswith(OPPORTUNITY_PREFIX) else None,
        "locale": locale if locale in ("ja", "en") else None,
    }


def _owner(loc: Loc) -> Loc:
    return (*loc, "Owner", "Email")


def _converted(data: dict[str, Any], loc: Loc) -> str | None:
    """The opportunity a converted lead became (links the lead to the deal's outcome)."""
    return text(get(data, "ConvertedOpportunityId"), (*loc, "ConvertedOpportunityId"))


def _body(data: dict[str, Any], loc: Loc) -> str:
    raw = text(get(data, "Description") or get(data, "Body"), (*loc, "Description"))
    return html_to_text(raw) if raw else ""


def _lead_name(data: dict[str, Any], loc: Loc) -> str | None:
    parts = [text(get(data, n), (*loc, n)) for n in ("FirstName", "LastName", "Company")]
    name = " ".join(p for p in parts if p)
    return name or None


def _slug(value: str | None) -> str | None:
    return "-".join(value.lower().split()) if value else None


def _type(data: dict[str, Any], loc: Loc) -> str:
    """``attributes.type`` (or the Id's key prefix for the four handled types)."""
    attributes = get(data, "attributes")
    if attributes is not None:
        kind = text(
            get(obj(attributes, (*loc, "attributes")), "type"), (*loc, "attributes", "type")
        )
        if kind:
            return kind
    record_id = text(get(data, "Id"), (*loc, "Id")) or ""
    by_prefix = {"006": "Opportunity", LEAD_PREFIX: "Lead", "00T": "Task", "002": "Note"}
    kind = by_prefix.get(record_id[:3])
    if kind is None:
        raise AdapterError.at((*loc, "attributes", "type"), "field required", "missing")
    return kind
