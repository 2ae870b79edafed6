"""A callback on the wire: the update in each origin tool's own shape (Zendesk, Freshdesk)
or handoff's generic one, the URL it goes to, and its signed headers.

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
from services.api.db import Task

CallbackFormat = Literal["generic", "zendesk", "freshdesk"]
SIGNATURE_HEADER: Final = "X-Handoff-Signature"
TIMESTAMP_HEADER: Final = "X-Handoff-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"

ZENDESK_STATUS: Final[dict[str, str]] = {
    TaskState.OPEN: "open",
    TaskState.ACKNOWLEDGED: "open",
    TaskState.IN_PROGRESS: "open",
    TaskState.REASSIGNED: "open",
    TaskState.REOPENED: "open",
    TaskState.RESOLVED: "solved",
    TaskState.REJECTED: "solved",
}
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


TICKET_PLACEHOLDERS: Final = ("{ticket_id}", "%7Bticket_id%7D", "%7bticket_id%7d")


def delivery_url(template: str, origin: Origin) -> str:
    """The callback URL for one origin: ``{ticket_id}`` becomes its ref (else its event id)."""
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
    """A Zendesk ticket update: its status, the comment, and our id (its own id if known)."""
    ticket: dict[str, Any] = {
        "status": ZENDESK_STATUS[state],
        "comment": {"body": text, "public": public},
        "external_id": origin.event_id,
    }
    if origin.ref:
        ticket = {"id": int(origin.ref) if origin.ref.isdigit() else origin.ref, **ticket}
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
    """One attempt's headers: signed now, with the idempotency key the origin dedupes on."""
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        IDEMPOTENCY_HEADER: delivery_id,
        "X-Handoff-Delivery-Attempt": str(attempt),
        "X-Handoff-Task": task_id,
    }
