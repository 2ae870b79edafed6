"""Zendesk ticket webhooks -> ``support.ticket`` (+ ``support.ticket_updated``).

Zendesk's event webhooks (``{"type": "zen:event-type:ticket.created", "detail", "event",
...}``) are read by :mod:`zendesk_events`. The body of the other kind is the JSON a
Zendesk trigger or automation sends through a webhook, shaped like the Tickets API's
ticket (placeholders fill it, see the README's "Sources"):
``{"ticket": {"id", "subject", "description", "priority", "status", "tags",
"custom_fields": [{"id", "value"}], "created_at", "updated_at", "requester": {"email",
"name"}, "organization": {"id", "name", "external_id"}, "latest_comment": {...}}}``,
optionally with ``"event": {"type": "comment_added"|"priority_changed"|"status_changed",
"previous": ...}``. A ticket whose ``updated_at`` is later than its ``created_at`` (or
that comes with an ``event``) is an update. The organization's ``external_id`` is kept
as the company id and its ``domain_names`` as the company's domains, for identity
resolution: each domain is linked to the company id (名寄せ). Unknown fields are ignored.
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
from services.ingest.adapters.helpdesk import HelpdeskTicket, TicketUpdate, is_update, ticket_events
from services.ingest.adapters.markup import html_to_text
from services.ingest.adapters.zendesk_events import adapt_event, is_event_webhook

SOURCE = "/sources/zendesk"
PRIORITIES = {p.value: p for p in Priority}
EVENT_CHANGES = {
    "comment_added": TicketChange.COMMENT,
    "priority_changed": TicketChange.PRIORITY,
    "status_changed": TicketChange.STATUS,
}


SHAPES = (
    'a Zendesk event webhook ({"type": "zen:event-type:ticket.…", "detail": {…}, "event": {…}})'
    ' or a trigger webhook ({"ticket": {"id", …}})'
)


def adapt(payload: object, ctx: AdapterContext) -> list[Normalised]:
    body = obj(payload, ("body",))
    if is_event_webhook(body):
        return adapt_event(body, ctx, SOURCE, priority, _custom_fields)
    if "ticket" not in body and "id" not in body:
        raise AdapterError.at(("body",), f"not a Zendesk ticket: expected {SHAPES}", "shape")
    loc: Loc = ("body", "ticket") if "ticket" in body else ("body",)
    data = obj(body["ticket"], loc) if "ticket" in body else body
    ticket_id = need_text(data, "id", loc)
    created = instant(get(data, "created_at"), (*loc, "created_at"), ctx)
    updated = instant(get(data, "updated_at"), (*loc, "updated_at"), ctx)
    requester = _requester(data, loc)
    org = _org(data, loc)
    comment = _comment(data, body, loc)
    update = _update(_event(body), comment, created, updated)
    status = text(get(data, "status"), (*loc, "status"))
    ticket = HelpdeskTicket(
        source=SOURCE,
        ticket_id=ticket_id,
        subject=text(get(data, "subject"), (*loc, "subject")),
        description=html_to_text(text(get(data, "description"), (*loc, "description")) or ""),
        requester_email=requester,
        priority=priority(get(data, "priority"), (*loc, "priority")) or Priority.NORMAL,
        status=status.lower() if status else None,
        organization=org[0],
        company_id=org[1],
        company_domains=org[2],
        component=text(get(data, "component"), (*loc, "component")),
        tags=string_list(get(data, "tags"), (*loc, "tags")),
        custom_fields=_custom_fields(get(data, "custom_fields"), (*loc, "custom_fields")),
        created_at=created,
        updated_at=updated,
        update=update,
        loc=loc,
    )
    return ticket_events(ticket, ctx)


def _update(
    change: tuple[TicketChange, str | None] | None,
    comment: tuple[str, bool | None] | None,
    created: datetime | None,
    updated: datetime | None,
) -> TicketUpdate | None:
    """The update this webhook reports: its ``event``, else a later ``updated_at``."""
    if change is None and not is_update(created, updated):
        return None
    kind, previous = change or (TicketChange.COMMENT if comment else TicketChange.OTHER, None)
    previous_loc: Loc = ("body", "event", "previous")
    return TicketUpdate(
        change=kind,
        comment=comment[0] if comment else None,
        comment_public=comment[1] if comment else None,
        previous_priority=priority(previous, previous_loc)
        if kind is TicketChange.PRIORITY
        else None,
        previous_status=previous.lower() if kind is TicketChange.STATUS and previous else None,
    )


def priority(value: object, loc: Loc) -> Priority | None:
    """urgent/high/normal/low in any case; blank or ``-`` (an empty placeholder) is none."""
    name = text(value, loc)
    if name is None or name == "-":
        return None
    found = PRIORITIES.get(name.lower())
    if found is None:
        msg = f"unknown priority {name!r} (expected urgent, high, normal or low)"
        raise AdapterError.at(loc, msg, "enum")
    return found


def _requester(data: dict[str, Any], loc: Loc) -> str | None:
    requester = get(data, "requester")
    if requester is None:
        return text(get(data, "requester_email"), (*loc, "requester_email"))
    who = obj(requester, (*loc, "requester"))
    return text(get(who, "email"), (*loc, "requester", "email"))


def _org(data: dict[str, Any], loc: Loc) -> tuple[str | None, str | None, list[str] | None]:
    """The organisation's name, its ``external_id`` (the company id) and its
    ``domain_names`` (the Organizations API's array of the domains its users write from)."""
    raw = get(data, "organization")
    if raw is None:
        return None, None, None
    where: Loc = (*loc, "organization")
    org = obj(raw, where)
    name = text(get(org, "name"), (*where, "name"))
    external = text(get(org, "external_id"), (*where, "external_id"))
    return name, external, string_list(get(org, "domain_names"), (*where, "domain_names"))


def _comment(
    data: dict[str, Any], body: dict[str, Any], loc: Loc
) -> tuple[str, bool | None] | None:
    raw = get(data, "latest_comment")
    where: Loc = (*loc, "latest_comment")
    if raw is None:
        raw, where = get(body, "comment"), ("body", "comment")
    if raw is None:
        return None
    if isinstance(raw, str):
        return (html_to_text(raw), None) if raw.strip() else None
    comment = obj(raw, where)
    html_body = text(get(comment, "html_body"), (*where, "html_body"))
    plain = text(get(comment, "body"), (*where, "body"))
    content = html_to_text(html_body) if html_body else (plain or "")
    public = get(comment, "public")
    if public is not None and not isinstance(public, bool):
        raise AdapterError.at((*where, "public"), "must be true or false", "bool_type")
    return (content, public) if content else None


def _event(body: dict[str, Any]) -> tuple[TicketChange, str | None] | None:
    raw = get(body, "event")
    if raw is None:
        return None
    change = obj(raw, ("body", "event"))
    kind = text(get(change, "type"), ("body", "event", "type"))
    if kind is None:
        raise AdapterError.at(("body", "event", "type"), "field required", "missing")
    kind = kind.removeprefix("zen:event-type:ticket.")
    previous = text(get(change, "previous"), ("body", "event", "previous"))
    return EVENT_CHANGES.get(kind, TicketChange.OTHER), previous


def _custom_fields(value: object, loc: Loc) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for i, raw in enumerate(value):
            field_ = obj(raw, (*loc, i))
            field_id = text(get(field_, "id"), (*loc, i, "id"))
            if field_id is None:
                raise AdapterError.at((*loc, i, "id"), "field required", "missing")
            items.append((field_id, get(field_, "value")))
    else:
        raise AdapterError.at(loc, "must be a list of {id, value} or an object", "list_type")
    out: dict[str, Any] = {}
    for name, raw_value in items:
        if isinstance(raw_value, list):  # multi-select fields
            raw_value = ",".join(str(v) for v in raw_value)
        if isinstance(raw_value, dict):
            raise AdapterError.at((*loc, str(name)), "must be a plain value", "value_type")
        out[str(name)] = raw_value
    return out or None
