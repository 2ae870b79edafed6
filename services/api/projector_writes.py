"""What the projector writes for each kind of message, in the caller's transaction.

``Projector.handle`` runs one of these per message, in a transaction of its own; a poll's
messages that all project cleanly share one transaction (``Projector._store_together``).
Each returns what became of its message (the outcomes below, counted per message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from schemas.events import CloudEvent
from services.api.accounts_aliases import learned_account
from services.api.accounts_outcomes import store_outcome
from services.api.capacity import store_order
from services.api.db import (
    RESOLVED,
    follow_reroute,
    grow_group,
    insert_origin_if_absent,
    insert_origin_update_if_absent,
    insert_task_event,
    insert_task_if_absent,
    touch_tasks_of,
)
from services.api.projection import answered_entry, is_reassigned, is_reopened, origin_row
from services.api.task_updates import follow_change, is_task_update
from services.api.team_alerts import schedule_team_alerts

INSERTED: Final = "inserted"
DUPLICATE: Final = "duplicate"
DEAD_LETTERED: Final = "dead_lettered"
GROUPED: Final = "grouped"  # another event joined a stored task: its group grew
REASSIGNED: Final = "reassigned"  # the router re-routed a handed-over task: its new deadlines
REOPENED: Final = "reopened"  # the router routed a reopened task again: its fresh deadlines
UPDATED: Final = "updated"  # the asker changed a request already routed (support.ticket_updated)
ALERTED: Final = "alerted"  # an SLA signal owed to the teams' webhooks
NO_WEBHOOK: Final = "no_webhook"  # an SLA signal no team registered a webhook for

Row = dict[str, Any]


def store_task(conn: sa.Connection, event: CloudEvent, row: Row, locale: str = "en") -> str:
    """Write a routed task (its answer and its origin too); what became of it."""
    row = {**row, "account": learned_account(conn, event, row)}  # 名寄せ: the resolved account
    inserted = insert_task_if_absent(conn, row)
    if inserted and row["state"] == RESOLVED:
        insert_task_event(conn, answered_entry(event, row))
    origin = origin_row(event, row)
    if origin is not None:
        insert_origin_if_absent(conn, origin)
    store_outcome(conn, event, row)  # a deal outcome or lead change, for lead quality
    store_order(conn, event, locale=locale, now=row["projected_at"])  # a rush order's answer
    if inserted and not is_task_update(event):
        return INSERTED
    followed = follow_change(conn, event, row)  # an update of its terms, an escalation
    if inserted:
        return INSERTED
    if followed is not None:
        grow_group(conn, row)
        return followed
    rerouted = REASSIGNED if is_reassigned(event) else REOPENED if is_reopened(event) else None
    if rerouted and follow_reroute(conn, row):
        return rerouted
    return GROUPED if grow_group(conn, row) else DUPLICATE


def store_alerts(conn: sa.Connection, event: CloudEvent, now: datetime) -> str:
    """Owe the teams' webhooks an SLA signal (:class:`TaskNotProjectedError`: not yet)."""
    return ALERTED if schedule_team_alerts(conn, event, now) else NO_WEBHOOK


def store_update(conn: sa.Connection, row: Row) -> str:
    """Keep a change by the request it changes, whether or not its task is stored yet (the
    update can overtake the task.routed: it skips the router's grouping)."""
    if not insert_origin_update_if_absent(conn, row):
        return DUPLICATE
    touch_tasks_of(conn, row["origin_event_id"], row["projected_at"])
    return UPDATED
