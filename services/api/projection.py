"""Pure projection: consumed bytes -> CloudEvent -> the rows the projector stores.

No SQL and no I/O: each function takes an event (and the time it is projected)
and returns a row, or raises :class:`~services.api.errors.InvalidEventError`
saying why the message can never be stored, so it is dead-lettered rather than
retried. The projector (``services.api.projector``) writes them with ``services.api.db``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from schemas import topics
from schemas.dlq import ConsumedRecord, DeadLetter
from schemas.events import (
    SUPPORT_TICKET_UPDATED,
    TASK_RESOLVED,
    TASK_ROUTED,
    CloudEvent,
    TaskRouted,
    TicketUpdated,
    derived_id,
)
from services.api.db import OPEN, ORIGIN_UPDATES, RESOLVED, TASK_ID_RE, string_limits
from services.api.errors import InvalidEventError
from services.core.departments import asking_department

SERVICE: Final = "api"
INVALID_TASK: Final = "InvalidTaskRouted"
INVALID_UPDATE: Final = "InvalidTicketUpdated"


def _validation_summary(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_event(value: bytes | None) -> CloudEvent:
    """The CloudEvent in a message value, or :class:`InvalidEventError` saying why not."""
    if value is None:
        raise InvalidEventError("message has no value", "EmptyMessage")
    try:
        return CloudEvent.from_bytes(value)
    except ValidationError as exc:
        raise InvalidEventError(
            f"not a CloudEvent: {_validation_summary(exc)}", "InvalidCloudEvent"
        ) from exc


# --- task.routed -> tasks --------------------------------------------------------------------


def task_row(event: CloudEvent, *, projected_at: datetime) -> dict[str, Any]:
    """The ``tasks`` row for a ``task.routed`` event, or :class:`InvalidEventError` why not."""
    routed = _routed(event)
    row = _open_task(routed, projected_at)
    if routed.answered_at is not None:  # answered by the router itself: resolved already
        answered = _utc(routed.answered_at, "answered_at")
        row.update(_answered(answered, routed.answer, row["raised_at"]))
    _check_storable(row)
    return row


def _routed(event: CloudEvent) -> TaskRouted:
    if event.type != TASK_ROUTED:
        raise InvalidEventError(
            f"event type {event.type!r} is not {TASK_ROUTED!r}", "UnexpectedEventType"
        )
    try:
        return TaskRouted.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {TASK_ROUTED} data: {_validation_summary(exc)}", INVALID_TASK
        ) from exc


def _open_task(routed: TaskRouted, projected_at: datetime) -> dict[str, Any]:
    return {
        "task_id": routed.task_id,
        "source_event_id": routed.source_event_id,
        "source": routed.source,
        "team": routed.team,
        "rule": routed.rule,
        "account": routed.account,
        "priority": routed.priority.value,
        "component": routed.component,
        "subject": routed.subject,
        "description": routed.description,
        "requester_email": routed.requester_email,
        "state": OPEN,
        "raised_at": _utc(routed.raised_at, "raised_at"),
        "routed_at": _utc(routed.routed_at, "routed_at"),
        "sla_due": _utc(routed.sla_due, "sla_due"),
        "projected_at": _utc(projected_at, "projected_at"),
        "resolved_at": None,
        "resolution": None,
        "feedback_latency_s": None,
        "version": 1,
        "department": asking_department(routed.source)[:64],  # who asked; the team answers
        "updated_at": _utc(projected_at, "projected_at"),
        "acknowledged_at": None,
        "feedback_delivered_at": None,
        "acknowledge_by": _utc(routed.acknowledge_by, "acknowledge_by")
        if routed.acknowledge_by
        else None,
        "event_count": routed.event_count,
        "event_ids": json.dumps(routed.event_ids or [routed.source_event_id]),
        "summary": routed.summary,
        "resolve_by": _utc(routed.resolve_by, "resolve_by") if routed.resolve_by else None,
        "answered_by": None,
        "answering_department": routed.department[:64] if routed.department else None,
    }


def _answered(answered: datetime, answer: str | None, raised_at: datetime) -> dict[str, Any]:
    """What a task the router answered itself has on top of an open one."""
    return {
        "state": RESOLVED,
        "acknowledged_at": answered,
        "resolved_at": answered,
        "resolution": answer,
        "feedback_latency_s": max(0.0, (answered - raised_at).total_seconds()),
        "updated_at": answered,
        "answered_by": "router",
    }


def answered_entry(event: CloudEvent, row: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline entry of a task the router answered itself."""
    return {
        "task_id": row["task_id"],
        "seq": 1,
        "event_id": derived_id(TASK_RESOLVED, row["task_id"], "router"),
        "type": TASK_RESOLVED,
        "at": row["resolved_at"],
        "actor": "router",
        "from_state": OPEN,
        "to_state": RESOLVED,
        "team": row["team"],
        "message": row["resolution"],
    }


def origin_row(event: CloudEvent, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request a ``task.routed`` routes, as a ``task_origins`` row (None: an older router)."""
    event_id = event.data.get("origin_event_id")
    if not isinstance(event_id, str) or not event_id:
        return None
    ref = event.data.get("origin_ref")
    return {
        "task_id": row["task_id"],
        "event_id": event_id[:256],
        "source": row["source"],
        "ref": str(ref)[:128] if ref else None,
        "requester_email": row["requester_email"],
        "raised_at": row["raised_at"],
    }


def is_reassigned(event: CloudEvent) -> bool:
    """A ``task.routed`` the router sent again after a handover to another team."""
    return bool(event.data.get("reassigned_from"))


def is_reopened(event: CloudEvent) -> bool:
    """A ``task.routed`` the router sent again when a closed task was reopened."""
    return bool(event.data.get("reopened_at"))


# --- support.ticket_updated -> origin_updates ------------------------------------------------


def is_update(event: CloudEvent) -> bool:
    """A change to a request already routed, rather than a routed task."""
    return event.type == SUPPORT_TICKET_UPDATED


def update_row(event: CloudEvent, *, projected_at: datetime) -> dict[str, Any]:
    """The ``origin_updates`` row of a ``support.ticket_updated`` event, or why not."""
    try:
        update = TicketUpdated.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {SUPPORT_TICKET_UPDATED} data: {_validation_summary(exc)}", INVALID_UPDATE
        ) from exc
    row: dict[str, Any] = {
        "event_id": event.id,
        "origin_event_id": update.ticket_event_id,
        "source": event.source,
        "ref": update.ticket_id,
        "change": update.change.value,
        "comment": update.comment,
        "public": update.comment_public,
        "priority": update.priority.value if update.priority else None,
        "previous_priority": update.previous_priority.value if update.previous_priority else None,
        "status": update.status,
        "previous_status": update.previous_status,
        "requester_email": update.requester_email,
        "at": _utc(update.updated_at, "updated_at"),
        "projected_at": _utc(projected_at, "projected_at"),
    }
    _check_strings(row, string_limits(ORIGIN_UPDATES), INVALID_UPDATE)
    return row


# --- what the database would refuse ----------------------------------------------------------


def _utc(value: datetime, field: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidEventError(f"data.{field}: out of range in UTC", INVALID_TASK) from exc


def _check_storable(row: Mapping[str, Any]) -> None:
    """Refuse what the database would refuse, so it is dead-lettered rather than retried."""
    if not TASK_ID_RE.fullmatch(row["task_id"]):
        raise InvalidEventError(
            "data.task_id: must be 1-128 letters, digits, '.', '_', ':' or '-'", INVALID_TASK
        )
    if not topics.is_valid_team(row["team"]):
        raise InvalidEventError(
            f"data.team: {row['team']!r} is not a team name "
            "(lowercase letters, digits and '-', at most 63)",
            INVALID_TASK,
        )
    _check_strings(row, string_limits(), INVALID_TASK)


def _check_strings(row: Mapping[str, Any], limits: Mapping[str, int], error_type: str) -> None:
    for name, limit in limits.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidEventError(f"data.{name}: longer than {limit} characters", error_type)
    for name, value in row.items():
        if isinstance(value, str):
            _check_text(name, value, error_type)


def _check_text(name: str, value: str, error_type: str) -> None:
    if "\x00" in value:
        raise InvalidEventError(f"data.{name}: contains a NUL character", error_type)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEventError(
            f"data.{name}: not valid Unicode (lone surrogate)", error_type
        ) from None


# --- what cannot be projected ----------------------------------------------------------------


def dead_letter(
    record: ConsumedRecord, *, reason: str, error_type: str, at: datetime, service: str = SERVICE
) -> bytes:
    """The dead letter (``schemas.dlq.DeadLetter``) for ``record``: reason, origin, bytes."""
    return DeadLetter.of_record(
        record, reason=reason, error_type=error_type, service=service, at=at
    ).to_bytes()
