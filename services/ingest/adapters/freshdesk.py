"""Freshdesk ticket webhooks -> ``support.ticket`` (+ ``support.ticket_updated``).

Two shapes: the API v2 ticket (bare or as ``{"ticket": ...}``) with numeric
``priority`` (1 low, 2 medium, 3 high, 4 urgent) and ``status`` (2 open, 3 pending,
4 resolved, 5 closed, 6 waiting on customer, 7 waiting on third party) codes, and the
classic automation webhook ``{"freshdesk_webhook": {"ticket_id", "ticket_subject",
"ticket_priority", "ticket_status", "ticket_contact_email", ...}}`` whose placeholders
give names ("Urgent") or numeric strings ("4"). Both are mapped to names. Medium is
handoff's ``normal``. ``company_id`` is kept for identity resolution.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Priority, TicketChange
from services.ingest.adapters.base import (
    AdapterContext,
    AdapterError,
    Loc,
    Normalised,
    get,
    instant,
    need_text,
    obj,
    string_list,
    text,
    timestamp,
    usable,
)
from services.ingest.adapters.helpdesk import HelpdeskTicket, TicketUpdate, is_update, ticket_events
from services.ingest.adapters.markup import html_to_text

SOURCE = "/sources/freshdesk"
PRIORITY_CODES = {1: Priority.LOW, 2: Priority.NORMAL, 3: Priority.HIGH, 4: Priority.URGENT}
PRIORITY_NAMES = {"low": Priority.LOW, "medium": Priority.NORMAL, "normal": Priority.NORMAL,
                  "high": Priority.HIGH, "urgent": Priority.URGENT}  # fmt: skip
STATUS_CODES = {
    2: "open",
    3: "pending",
    4: "resolved",
    5: "closed",
    6: "waiting_on_customer",
    7: "waiting_on_third_party",
}


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    body = obj(payload, ("body",))
    if "freshdesk_webhook" in body:
        return _classic(obj(body["freshdesk_webhook"], ("body", "freshdesk_webhook")), ctx)
    loc: Loc = ("body", "ticket") if "ticket" in body else ("body",)
    data = obj(body["ticket"], loc) if "ticket" in body else body
    created = instant(get(data, "created_at"), (*loc, "created_at"), ctx)
    updated = instant(get(data, "updated_at"), (*loc, "updated_at"), ctx)
    requester = get(data, "requester")
    email = text(get(data, "email"), (*loc, "email"))
    if requester is not None:
        email = text(
            get(obj(requester, (*loc, "requester")), "email"), (*loc, "requester", "email")
        )
    company = get(data, "company")
    org = (
        text(get(obj(company, (*loc, "company")), "name"), (*loc, "company", "name"))
        if company is not None
        else None
    )
    description = text(get(data, "description"), (*loc, "description"))
    plain = text(get(data, "description_text"), (*loc, "description_text"))
    custom = get(data, "custom_fields")
    if custom is not None and not isinstance(custom, dict):
        raise AdapterError.at((*loc, "custom_fields"), "must be an object", "dict_type")
    ticket = HelpdeskTicket(
        source=SOURCE,
        ticket_id=need_text(data, "id", loc),
        subject=text(get(data, "subject"), (*loc, "subject")),
        description=plain or html_to_text(description or ""),
        requester_email=email,
        priority=priority(get(data, "priority"), (*loc, "priority")) or Priority.NORMAL,
        status=status(get(data, "status"), (*loc, "status")),
        organization=org,
        company_id=text(get(data, "company_id"), (*loc, "company_id")),
        component=_component(custom),
        tags=string_list(get(data, "tags"), (*loc, "tags")),
        custom_fields=_scalars(custom, (*loc, "custom_fields")),
        created_at=created,
        updated_at=updated,
        update=TicketUpdate(TicketChange.OTHER) if is_update(created, updated) else None,
        loc=loc,
    )
    return ticket_events(ticket, ctx)


def _classic(data: dict[str, Any], ctx: AdapterContext) -> list[Normalised]:
    loc: Loc = ("body", "freshdesk_webhook")
    created = _lenient_time(data, "ticket_created_at", loc, ctx)
    updated = _lenient_time(data, "ticket_updated_at", loc, ctx)
    comment = text(
        get(data, "ticket_latest_public_comment"), (*loc, "ticket_latest_public_comment")
    )
    update = None
    if is_update(created, updated):
        kind = TicketChange.COMMENT if comment else TicketChange.OTHER
        update = TicketUpdate(kind, comment=html_to_text(comment) if comment else None)
    ticket = HelpdeskTicket(
        source=SOURCE,
        ticket_id=need_text(data, "ticket_id", loc),
        subject=text(get(data, "ticket_subject"), (*loc, "ticket_subject")),
        description=html_to_text(
            text(get(data, "ticket_description"), (*loc, "ticket_description")) or ""
        ),
        requester_email=text(get(data, "ticket_contact_email"), (*loc, "ticket_contact_email")),
        priority=priority(get(data, "ticket_priority"), (*loc, "ticket_priority"))
        or Priority.NORMAL,
        status=status(get(data, "ticket_status"), (*loc, "ticket_status")),
        organization=text(get(data, "ticket_company_name"), (*loc, "ticket_company_name")),
        company_id=text(get(data, "ticket_company_id"), (*loc, "ticket_company_id")),
        tags=string_list(get(data, "ticket_tags"), (*loc, "ticket_tags")),
        created_at=created,
        updated_at=updated,
        update=update,
        loc=loc,
    )
    return ticket_events(ticket, ctx)


def priority(value: object, loc: Loc) -> Priority | None:
    """A Freshdesk priority code (1-4, also as a string) or name, as handoff's priority."""
    name = text(value, loc)
    if name is None:
        return None
    found = PRIORITY_CODES.get(int(name)) if _is_code(name) else PRIORITY_NAMES.get(name.lower())
    if found is None:
        msg = f"unknown Freshdesk priority {name!r} (1-4 or low, medium, high, urgent)"
        raise AdapterError.at(loc, msg, "enum")
    return found


def status(value: object, loc: Loc) -> str | None:
    """A Freshdesk status code (2-7) as its name; a name (also custom) is kept, lowercased."""
    name = text(value, loc)
    if name is None:
        return None
    if _is_code(name):
        found = STATUS_CODES.get(int(name))
        if found is None:
            raise AdapterError.at(loc, f"unknown Freshdesk status code {name}", "enum")
        return found
    return "_".join(name.lower().split())


def _component(custom: dict[str, Any] | None) -> str | None:
    value = (custom or {}).get("cf_component")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _scalars(custom: dict[str, Any] | None, loc: Loc) -> dict[str, Any] | None:
    if not custom:
        return None
    for name, value in custom.items():
        if isinstance(value, dict | list):
            raise AdapterError.at((*loc, name), "must be a plain value", "value_type")
    return dict(custom)


def _lenient_time(data: dict[str, Any], name: str, loc: Loc, ctx: AdapterContext) -> Any:
    """Freshdesk placeholders render dates for people ("Mon, 2 Mar, 2026 at 6:30 PM"): an
    ISO 8601 time is used, text that is no time is ignored (ingest's receive time stands
    in); a time handoff cannot use is refused like any other."""
    try:
        moment = timestamp(get(data, name), (*loc, name))
    except AdapterError as exc:
        if exc.errors[0]["type"] == "datetime_range":
            raise
        return None
    if moment is not None:
        usable(moment, (*loc, name), ctx)
    return moment


def _is_code(name: str) -> bool:
    return name.isascii() and name.isdigit() and len(name) < 6
