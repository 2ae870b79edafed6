"""Zendesk event webhooks (``zen:event-type:ticket.*``) -> ``support.ticket`` (+ an update).

A webhook subscribed to ticket events posts Zendesk's event envelope
(https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/):
``{"type": "zen:event-type:ticket.priority_changed", "account_id", "id", "time",
"zendesk_event_version", "subject": "zen:ticket:<id>", "detail": {...}, "event": {...}}``.
``detail`` is the ticket (``id``, ``subject``, ``description``, ``priority`` and
``status`` in capitals, ``tags``, ``organization_id``, ``requester_id``, ``created_at``,
``updated_at``; https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/);
``custom_fields`` (``[{"id", "value"}]``, as the Tickets API has them) are read when
present. ``event`` is the change: ``{"current", "previous"}`` for a priority or status,
``{"comment": {"body", "is_public", ...}}`` for a comment.

The envelope names people and organisations by id only, so the requester's address is a
stand-in built from the ids (``zendesk-user-<requester_id>@account-<account_id>.zendesk``)
and the account is the organisation (``company:zendesk-org-<id>``), or, for a requester
without one, that requester (``company:zendesk-user-<id>``). ``ticket.created`` raises the
ticket; any other ticket event also reports a change, identified by the event's own ``id``.
"""

from __future__ import annotations

from datetime import datetime
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
)
from services.ingest.adapters.helpdesk import HelpdeskTicket, TicketUpdate, ticket_events
from services.ingest.adapters.markup import html_to_text

EVENT_PREFIX = "zen:event-type:"
TICKET_PREFIX = "zen:event-type:ticket."
CHANGES = {
    "comment_added": TicketChange.COMMENT,
    "priority_changed": TicketChange.PRIORITY,
    "status_changed": TicketChange.STATUS,
}
NO_ORG = ("", "0")
Parse = tuple[str, datetime | None]


def is_event_webhook(body: dict[str, Any]) -> bool:
    """Zendesk's event envelope: a ``zen:event-type:`` type, or its ``detail`` + version."""
    kind = body.get("type")
    if isinstance(kind, str) and kind.startswith(EVENT_PREFIX):
        return True
    return "detail" in body and "zendesk_event_version" in body


def adapt_event(
    body: dict[str, Any], ctx: AdapterContext, source: str, priority: Any, fields: Any
) -> list[Normalised]:
    """The ticket (and the change, unless it is ``ticket.created``) of one event webhook."""
    kind = _ticket_event_type(body)
    detail = obj(need(body, "detail"), ("body", "detail"))
    loc: Loc = ("body", "detail")
    when = instant(need(body, "time"), ("body", "time"), ctx)
    created = instant(get(detail, "created_at"), (*loc, "created_at"), ctx)
    updated = instant(get(detail, "updated_at"), (*loc, "updated_at"), ctx) or when
    company, email = _who(body, detail)
    ticket = HelpdeskTicket(
        source=source,
        ticket_id=_ticket_id(body, detail),
        subject=text(get(detail, "subject"), (*loc, "subject")),
        description=html_to_text(text(get(detail, "description"), (*loc, "description")) or ""),
        requester_email=email,
        priority=priority(get(detail, "priority"), (*loc, "priority")) or Priority.NORMAL,
        status=_lower(text(get(detail, "status"), (*loc, "status"))),
        company_id=company,
        tags=string_list(get(detail, "tags"), (*loc, "tags")),
        custom_fields=fields(get(detail, "custom_fields"), (*loc, "custom_fields")),
        created_at=created,
        updated_at=updated if kind != "created" else created or updated,
        update=None if kind == "created" else _update(kind, body, priority),
        loc=loc,
    )
    return ticket_events(ticket, ctx)


def need(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None:
        raise AdapterError.at(
            ("body", name), "field required (Zendesk's event envelope)", "missing"
        )
    return value


def _ticket_event_type(body: dict[str, Any]) -> str:
    kind = text(need(body, "type"), ("body", "type")) or ""
    if not kind.startswith(TICKET_PREFIX):
        msg = f"handoff takes Zendesk ticket events ({TICKET_PREFIX}*), not {kind!r}"
        raise AdapterError.at(("body", "type"), msg, "event_type")
    return kind.removeprefix(TICKET_PREFIX)


def _ticket_id(body: dict[str, Any], detail: dict[str, Any]) -> str:
    """``detail.id``, else the id in ``subject`` (``zen:ticket:<id>``)."""
    subject = text(get(body, "subject"), ("body", "subject")) or ""
    if get(detail, "id") is None and subject.startswith("zen:ticket:"):
        return subject.removeprefix("zen:ticket:")
    return need_text(detail, "id", ("body", "detail"))


def _who(body: dict[str, Any], detail: dict[str, Any]) -> tuple[str, str]:
    """The account (the organisation, else the requester) and the stand-in address."""
    loc: Loc = ("body", "detail")
    account = text(get(body, "account_id"), ("body", "account_id")) or "0"
    requester = need_text(detail, "requester_id", loc)
    org = text(get(detail, "organization_id"), (*loc, "organization_id"))
    company = f"zendesk-user-{requester}" if org in (None, *NO_ORG) else f"zendesk-org-{org}"
    return company, f"zendesk-user-{requester}@account-{account}.zendesk"


def _update(kind: str, body: dict[str, Any], priority: Any) -> TicketUpdate:
    change = CHANGES.get(kind, TicketChange.OTHER)
    event = obj(get(body, "event") or {}, ("body", "event"))
    ref = text(get(body, "id"), ("body", "id"))
    if change is TicketChange.COMMENT:
        comment, public = _comment(event)
        return TicketUpdate(change, comment=comment, comment_public=public, ref=ref)
    if change is TicketChange.OTHER:
        return TicketUpdate(change, ref=ref)
    previous = text(get(event, "previous"), ("body", "event", "previous"))
    if change is TicketChange.PRIORITY:
        before = priority(previous, ("body", "event", "previous"))
        return TicketUpdate(change, previous_priority=before, ref=ref)
    return TicketUpdate(change, previous_status=_lower(previous), ref=ref)


def _comment(event: dict[str, Any]) -> tuple[str | None, bool | None]:
    loc: Loc = ("body", "event", "comment")
    comment = obj(need_event(event, "comment"), loc)
    content = text(get(comment, "body"), (*loc, "body"))
    public = get(comment, "is_public")
    if public is not None and not isinstance(public, bool):
        raise AdapterError.at((*loc, "is_public"), "must be true or false", "bool_type")
    return (html_to_text(content) if content else None), public


def need_event(event: dict[str, Any], name: str) -> Any:
    value = event.get(name)
    if value is None:
        raise AdapterError.at(("body", "event", name), "field required", "missing")
    return value


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None
