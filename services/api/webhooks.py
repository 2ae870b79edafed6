"""A callback on the wire: the update in each origin tool's own shape (Zendesk, Freshdesk)
or handoff's generic one, the URL it goes to, and its signed headers.

Zendesk's shape is its documented ticket update, ``PUT /api/v2/tickets/{id}`` with
``{"ticket": {"comment": {"body", "public"}, "status": "solved"}}``
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket):
a comment on every change, ``status`` only when handoff resolved the request, and no other
field (handoff owns none of the ticket's other fields, not ``external_id`` either).

Pure: no database, no HTTP; ``callbacks.py`` schedules and delivers these.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

from schemas.events import TaskState
from services.api.capacity_answers import CRM_FORMATS, crm_body
from services.api.db import Task

CallbackFormat = Literal["generic", "zendesk", "freshdesk", "salesforce", "hubspot"]
CallbackMethod = Literal["POST", "PUT", "PATCH"]
# The CloudEvents sources ingest gives requests: a callback is registered for one of them.
KNOWN_SOURCES: Final = (
    "/sources/support",
    "/sources/sales",
    "/sources/zendesk",
    "/sources/freshdesk",
    "/sources/salesforce",
    "/sources/hubspot",
)
SIGNATURE_HEADER: Final = "X-Handoff-Signature"
TIMESTAMP_HEADER: Final = "X-Handoff-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

# Only a resolution changes the ticket's status; anything else is a comment on it.
ZENDESK_STATUS: Final[dict[str, str]] = {TaskState.RESOLVED: "solved"}
# Freshdesk: 2 open, 3 pending, 4 resolved, 5 closed.
FRESHDESK_STATUS: Final[dict[str, int]] = {
    TaskState.OPEN: 2,
    TaskState.ACKNOWLEDGED: 2,
    TaskState.IN_PROGRESS: 3,
    TaskState.REASSIGNED: 2,
    TaskState.REOPENED: 2,
    TaskState.RESOLVED: 4,
    TaskState.REJECTED: 5,
}
PUBLIC_STATES: Final = frozenset({TaskState.RESOLVED, TaskState.REJECTED})


@dataclass(frozen=True)
class Origin:
    """One request grouped into a task: the answer goes back to it."""

    event_id: str
    source: str
    ref: str | None  # its id in the origin system, e.g. the Zendesk ticket id
    raised_at: datetime


TICKET_PLACEHOLDERS: Final = tuple(
    form
    for name in ("ticket_id", "ref")
    for form in ("{" + name + "}", f"%7B{name}%7D", f"%7b{name}%7d")
)


def delivery_url(template: str, origin: Origin) -> str:
    """The callback URL for one origin: ``{ref}`` (or ``{ticket_id}``) becomes its id in its
    own tool (else its event id)."""
    value = quote(origin.ref or origin.event_id, safe="")
    for placeholder in TICKET_PLACEHOLDERS:
        template = template.replace(placeholder, value)
    return template


def callback_body(
    fmt: str,
    *,
    delivery_id: str,
    task: Task,
    state: str,
    message: str,
    changed_at: datetime,
    origin: Origin | None = None,
    event_type: str | None = None,
    public: bool | None = None,
) -> dict[str, Any]:
    """The update in the origin's own shape (Zendesk, Freshdesk) or handoff's generic one.

    A closing state is a public reply; anything else (a comment, a start) is
    an internal note unless ``public`` says otherwise.
    """
    origin = origin or Origin(task.source_event_id, task.source, None, task.raised_at)
    public = state in PUBLIC_STATES if public is None else public
    text = message or f"handoff: the {task.team} team set this request to {state}."
    if fmt == "zendesk":
        return {"ticket": _zendesk_ticket(origin, state, text, public)}
    if fmt in CRM_FORMATS:  # the rep's CRM: a Salesforce Task, a HubSpot note
        return crm_body(
            fmt, ref=origin.ref, state=state, text=text, subject=task.subject, at=changed_at
        )
    if fmt == "freshdesk":
        return {"status": FRESHDESK_STATUS[state], "body": text, "private": not public}
    return {
        "delivery_id": delivery_id,
        "task_id": task.task_id,
        "event": event_type,
        "source_event_id": origin.event_id,
        "origin": {"event_id": origin.event_id, "source": origin.source, "ref": origin.ref},
        "state": state,
        "team": task.team,
        "message": message,
        "public": public,
        "raised_at": origin.raised_at.isoformat(),
        "changed_at": changed_at.isoformat(),
    }


def _zendesk_ticket(origin: Origin, state: str, text: str, public: bool) -> dict[str, Any]:
    """Zendesk's update body: the comment, and ``status`` only for a resolution."""
    ticket: dict[str, Any] = {"comment": {"body": text, "public": public}}
    if state in ZENDESK_STATUS:
        ticket["status"] = ZENDESK_STATUS[state]
    return ticket


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``"<timestamp>." + body``)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def signed_headers(
    secret: str, body: bytes, delivery_id: str, attempt: int, task_id: str
) -> dict[str, str]:
    """One attempt's headers: signed now (when the callback has a secret), with the
    idempotency key the origin dedupes on."""
    timestamp = int(time.time())
    signed = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    return {
        "Content-Type": "application/json; charset=utf-8",
        **(signed if secret else {}),
        IDEMPOTENCY_HEADER: delivery_id,
        "X-Handoff-Delivery-Attempt": str(attempt),
        "X-Handoff-Task": task_id,
    }
