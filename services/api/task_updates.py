"""What the router says about a task already stored: an update of its terms, an escalation.

The router sends both as a ``task.routed`` with the task's own id, so that
every reader (this API, the team's topic, the team's tracker) follows one
task: ``update`` set (a request's priority changed, or a more urgent request
joined: the task's priority and deadlines follow its most urgent request), or
``escalated_from`` set (its SLA was breached: the escalation team takes it
over). Here each changes the stored row once and adds one timeline entry,
whose id is the event's: a redelivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from schemas.events import CloudEvent, TaskRouted
from schemas.task_updates import TaskUpdate
from services.api.lifecycle import ACTIVE
from services.api.models import TASK_EVENTS, TASKS

TASK_UPDATED: Final = "task.updated"
TASK_ESCALATED: Final = "task.escalated"
ROUTER: Final = "router"
TERMS_UPDATED: Final = "terms_updated"
ESCALATED: Final = "escalated"
_CAUSES: Final = {
    "priority_changed": "priority changed / 優先度が変更されました",
    "request_joined": "a more urgent request joined / より緊急の依頼が加わりました",
}


def is_task_update(event: CloudEvent) -> bool:
    return bool(event.data.get("update"))


def is_escalation(event: CloudEvent) -> bool:
    return bool(event.data.get("escalated_from"))


def follow_change(conn: sa.Connection, event: CloudEvent, row: Mapping[str, Any]) -> str | None:
    """Apply what a ``task.routed`` of a stored task changes; None: nothing it changes."""
    if is_task_update(event):
        return apply_update(conn, event, row)
    if is_escalation(event):
        return apply_escalation(conn, event, row)
    return None


def describe(update: TaskUpdate) -> str:
    """``priority changed / 優先度が変更されました: priority high -> urgent; ...``."""
    cause = _CAUSES.get(update.cause, update.cause)
    listed = "; ".join(f"{c.name} {c.before or '-'} -> {c.after or '-'}" for c in update.changes)
    return f"{cause}: {listed}"


def apply_update(conn: sa.Connection, event: CloudEvent, row: Mapping[str, Any]) -> str | None:
    """The task's new terms and their timeline entry; None: already applied, a newer update
    was, or the task is closed."""
    routed = TaskRouted.model_validate(event.data)
    assert routed.update is not None
    if _recorded(conn, event.id) or _newer_update(conn, row["task_id"], row["routed_at"]):
        return None
    values = {  # every deadline follows the new terms: the figures judge resolve_by too
        "priority": row["priority"],
        "sla_due": row["sla_due"],
        "acknowledge_by": row["acknowledge_by"],
        "resolve_by": row["resolve_by"],
        "updated_at": row["routed_at"],
    }
    state = _active_state(conn, row["task_id"])
    if state is None:
        return None
    _update(conn, row["task_id"], values)
    _entry(conn, event, row, TASK_UPDATED, state, describe(routed.update))
    return TERMS_UPDATED


def apply_escalation(conn: sa.Connection, event: CloudEvent, row: Mapping[str, Any]) -> str | None:
    """The task goes to the escalation team (its queue shows it, its tokens act on it) while it
    is still open with the team that breached; None: already done, or it moved on since."""
    if _recorded(conn, event.id):
        return None
    breached_by = str(event.data["escalated_from"])
    moved = conn.execute(
        sa.update(TASKS)
        .where(
            TASKS.c.task_id == row["task_id"],
            TASKS.c.team == breached_by,
            TASKS.c.state.in_(sorted(ACTIVE)),
        )
        .values(team=row["team"], updated_at=row["routed_at"])
    )
    if not moved.rowcount:
        return None
    state = _active_state(conn, row["task_id"]) or "open"
    message = f"escalated from {breached_by} / エスカレーション: {event.data.get('reason') or ''}"
    _entry(conn, event, row, TASK_ESCALATED, state, message.strip())
    return ESCALATED


def _recorded(conn: sa.Connection, event_id: str) -> bool:
    found = sa.select(TASK_EVENTS.c.id).where(TASK_EVENTS.c.event_id == event_id)
    return conn.execute(found).first() is not None


def _newer_update(conn: sa.Connection, task_id: str, at: datetime) -> bool:
    newer = sa.select(TASK_EVENTS.c.id).where(
        TASK_EVENTS.c.task_id == task_id,
        TASK_EVENTS.c.type == TASK_UPDATED,
        TASK_EVENTS.c.at > at,
    )
    return conn.execute(newer).first() is not None


def _active_state(conn: sa.Connection, task_id: str) -> str | None:
    state = conn.scalar(sa.select(TASKS.c.state).where(TASKS.c.task_id == task_id))
    return str(state) if state in ACTIVE else None


def _update(conn: sa.Connection, task_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(sa.update(TASKS).where(TASKS.c.task_id == task_id).values(dict(values)))


def _entry(
    conn: sa.Connection,
    event: CloudEvent,
    row: Mapping[str, Any],
    type_: str,
    state: str,
    message: str,
) -> None:
    count = sa.select(sa.func.count()).where(TASK_EVENTS.c.task_id == row["task_id"])
    entry = {
        "task_id": row["task_id"],
        "seq": 1 + int(conn.scalar(count) or 0),
        "event_id": event.id,
        "type": type_,
        "at": row["routed_at"],
        "actor": ROUTER,
        "from_state": state,
        "to_state": state,
        "team": row["team"],
        "message": message,
    }
    conn.execute(TASK_EVENTS.insert(), entry)
