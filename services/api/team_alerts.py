"""SLA signals reach the team where it works: a signed webhook per team.

The router publishes ``sla.at_risk`` and ``sla.breached`` on ``handoff.sla``; the
projector hands each one to :func:`schedule_team_alerts` in its own transaction.
A team registers one webhook (``PUT /v1/teams/{team}/webhook``); it is kept with
the origins' callbacks under the key ``team:<team>``, so an alert travels the same
path as an answer to an asker: signed (``X-Handoff-Signature``), retried with
backoff, every attempt logged, parked on ``handoff.dlq`` after the last one.

Who hears what: the owning team hears at-risk and breached; on a breach the
escalation team hears it too, as an escalation. The delivery id is derived from
the signal's event id and the team, so a replayed signal owes nothing new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

import sqlalchemy as sa
from pydantic import ValidationError

from schemas.events import SLA_AT_RISK, SLA_BREACHED, CloudEvent, SlaSignal, derived_id
from services.api.db import Callback, Task, insert_delivery_if_absent
from services.api.errors import InvalidEventError
from services.core.errors import HandoffError

TEAM_TARGET_PREFIX: Final = "team:"
ALERT_STATES: Final = {"sla.at_risk": "at_risk", "sla.breached": "breached"}
TASKS: Final = cast(sa.Table, Task.__table__)
CALLBACKS: Final = cast(sa.Table, Callback.__table__)


class TaskNotProjectedError(HandoffError):
    """An SLA signal came before its task's ``task.routed`` was projected."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} is not in the database yet")
        self.task_id = task_id


def is_sla_signal(event: CloudEvent) -> bool:
    return event.type in (SLA_AT_RISK, SLA_BREACHED)


def team_target(team: str) -> str:
    """The callbacks key of a team's webhook: ``team:billing``."""
    return TEAM_TARGET_PREFIX + team


def is_team_target(source: str) -> bool:
    return source.startswith(TEAM_TARGET_PREFIX)


@dataclass(frozen=True)
class Recipient:
    """A team to tell, and why: it owns the task, or the task escalates to it."""

    team: str
    role: str


def recipients(event_type: str, signal: SlaSignal) -> list[Recipient]:
    """The owner always; on a breach, the escalation team as well."""
    told = [Recipient(signal.team, "owner")]
    if event_type == SLA_BREACHED and signal.escalate_to:
        told.append(Recipient(signal.escalate_to, "escalation"))
    return told


def alert_body(
    event: CloudEvent,
    signal: SlaSignal,
    task: sa.Row[Any],
    recipient: Recipient,
    delivery_id: str,
) -> dict[str, Any]:
    """What the team's webhook receives (JSON, UTF-8, signed like every callback)."""
    return {
        "delivery_id": delivery_id,
        "event": event.type,
        "event_id": event.id,
        "role": recipient.role,
        "team": recipient.team,
        "task_id": signal.task_id,
        "owner_team": signal.team,
        "escalate_to": signal.escalate_to,
        "clock": signal.clock,
        "due": signal.due.isoformat(),
        "signalled_at": event.time.isoformat() if event.time else None,
        "subject": task.subject,
        "account": task.account,
        "priority": task.priority,
    }


def _delivery_row(
    event: CloudEvent, body: dict[str, Any], callback: sa.Row[Any], now: datetime
) -> dict[str, Any]:
    return {
        "delivery_id": body["delivery_id"],
        "task_id": body["task_id"],
        "event_id": event.id[:256],
        "source": callback.source,
        "task_state": ALERT_STATES[event.type],
        "url": callback.url,
        "body": json.dumps(body, ensure_ascii=False),
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def _task(conn: sa.Connection, task_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(TASKS).where(TASKS.c.task_id == task_id)).first()


def _callback(conn: sa.Connection, team: str) -> sa.Row[Any] | None:
    where = CALLBACKS.c.source == team_target(team)
    return conn.execute(sa.select(CALLBACKS).where(where)).first()


def sla_signal(event: CloudEvent) -> SlaSignal:
    """The signal in ``event``, or :class:`InvalidEventError` saying why not."""
    try:
        return SlaSignal.model_validate(event.data)
    except ValidationError as exc:
        reason = f"{event.type} without a valid signal: {exc.errors()[0]['msg']}"
        raise InvalidEventError(reason, "InvalidSlaSignal") from exc


def schedule_team_alerts(conn: sa.Connection, event: CloudEvent, now: datetime) -> list[str]:
    """Owe each team with a webhook this signal; the new delivery ids.

    :class:`TaskNotProjectedError` when the task is not stored yet: a delivery
    belongs to a task, and the signal must wait for it, not be lost.
    """
    signal = sla_signal(event)
    task = _task(conn, signal.task_id)
    if task is None:
        raise TaskNotProjectedError(signal.task_id)
    owed = []
    for recipient in recipients(event.type, signal):
        callback = _callback(conn, recipient.team)
        if callback is None:
            continue
        delivery_id = derived_id("team-alert", event.id, recipient.team)
        body = alert_body(event, signal, task, recipient, delivery_id)
        if insert_delivery_if_absent(conn, _delivery_row(event, body, callback, now)):
            owed.append(delivery_id)
    return owed
