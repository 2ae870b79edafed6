"""Rush orders and holds in the API: what the projector stores from the router's answers,
and what ``/v1/capacity`` reads.

A ``task.routed`` that answers a rush order (``held``, ``refused``) or opens planning work
(``planning``) is kept in ``task_orders`` with its structured fields, its hold in
``capacity_holds``, and the rep is owed the answer (``services.api.feedback``). A
``capacity.hold_released`` from the router marks its hold released or expired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from schemas.events import CloudEvent, TaskRouted
from schemas.orders import HOLD_RELEASED, HoldReleased
from services.api.accounts_locales import account_locale
from services.api.errors import InvalidEventError
from services.api.feedback import owe_order_answer
from services.api.models.capacity import CapacityHold, TaskOrder
from services.api.models.tasks import Task
from services.api.payloads.capacity import OrderOut

HELD: Final = "held"
INVALID_RELEASE: Final = "InvalidHoldReleased"


def is_hold_release(event: CloudEvent) -> bool:
    return event.type == HOLD_RELEASED


def store_order(conn: sa.Connection, event: CloudEvent, *, locale: str, now: datetime) -> bool:
    """Keep a rush order's answer and owe it to the rep; False: not a rush order's."""
    routed = TaskRouted.model_validate(event.data)
    row = order_row(routed, now)
    if row is None:
        return False
    inserted = _insert_if_absent(conn, TaskOrder, row, TaskOrder.task_id == routed.task_id)
    if inserted and routed.held is not None:
        _insert_if_absent(
            conn, CapacityHold, hold_row(routed), CapacityHold.hold_id == routed.held.hold_id
        )
    if inserted:  # the request's locale, else the account's, else the configured default
        default = account_locale(conn, routed.account) or locale
        owe_order_answer(conn, routed, default_locale=default, now=now)
    return inserted


def order_row(routed: TaskRouted, now: datetime) -> dict[str, Any] | None:
    fields = routed.held or routed.planning or routed.refused
    if fields is None:
        return None
    kind = "held" if routed.held else "planning" if routed.planning else "refused"
    return {
        "task_id": routed.task_id,
        "kind": kind,
        "locale": routed.locale or (routed.planning.locale if routed.planning else None),
        "fields": fields.model_dump_json(),
        "refused": routed.refused.code if routed.refused else None,
        "answer": routed.answer,
        "at": now,
    }


def hold_row(routed: TaskRouted) -> dict[str, Any]:
    held = routed.held
    assert held is not None
    return {
        "hold_id": held.hold_id,
        "task_id": routed.task_id,
        "account": routed.account,
        "plant": held.plant,
        "line": held.line,
        "units": held.units,
        "ready_by": held.ready_by,
        "expires_at": held.expires_at,
        "state": HELD,
        "reason": None,
        "released_at": None,
    }


def store_release(conn: sa.Connection, event: CloudEvent) -> str:
    """Mark a hold released (a lost deal) or expired; redelivery changes nothing."""
    try:
        released = HoldReleased.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid {HOLD_RELEASED} data: {exc}", INVALID_RELEASE) from exc
    state = "expired" if released.reason == "expired" else "released"
    done = conn.execute(
        sa.update(CapacityHold)
        .where(CapacityHold.hold_id == released.hold_id, CapacityHold.state == HELD)
        .values(state=state, reason=released.reason, released_at=released.released_at)
    )
    return "released" if done.rowcount else "duplicate"


def _insert_if_absent(
    conn: sa.Connection, table: type[Any], row: dict[str, Any], where: sa.ColumnElement[bool]
) -> bool:
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first():
        return False
    conn.execute(sa.insert(table).values(**row))
    return True


# --- reads


@dataclass(frozen=True)
class HoldFilter:
    plant: str | None = None
    line: str | None = None
    state: str | None = HELD
    team: str | None = None  # a team token sees its own tasks' holds only


def holds(conn: sa.Connection, which: HoldFilter, limit: int = 500) -> list[CapacityHold]:
    query = _visible(sa.select(CapacityHold), which.team)
    for column, value in (
        (CapacityHold.plant, which.plant),
        (CapacityHold.line, which.line),
        (CapacityHold.state, which.state),
    ):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(CapacityHold.expires_at, CapacityHold.hold_id).limit(limit)
    with Session(bind=conn) as session:
        return list(session.scalars(query))


def lines(conn: sa.Connection, team: str | None = None) -> list[dict[str, Any]]:
    """Per (plant, line): how many holds are in force and the units they hold."""
    query = sa.select(
        CapacityHold.plant,
        CapacityHold.line,
        sa.func.count().label("holds"),
        sa.func.sum(CapacityHold.units).label("units_held"),
        sa.func.min(CapacityHold.expires_at).label("next_expiry"),
    )
    query = (
        _visible(query, team)
        .where(CapacityHold.state == HELD)
        .group_by(CapacityHold.plant, CapacityHold.line)
        .order_by(CapacityHold.plant, CapacityHold.line)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def _visible(query: Any, team: str | None) -> Any:
    """Scoped like the tasks: a team token sees the holds of its team's tasks."""
    if team is None:
        return query
    return query.join(Task, Task.task_id == CapacityHold.task_id).where(Task.team == team)


def task_order(engine: sa.Engine, task_id: str) -> OrderOut | None:
    """A task's rush order as the router answered it (None: not a rush order)."""
    table = TaskOrder.__table__
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.task_id == task_id)).first()
    if row is None:
        return None
    order = row._mapping
    return OrderOut(
        kind=order["kind"],
        locale=order["locale"],
        fields=json.loads(order["fields"]),
        answer=order["answer"],
    )
