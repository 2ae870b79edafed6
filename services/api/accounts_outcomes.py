"""Sales outcomes as the API keeps them: one row per routed deal outcome or lead change.

The projector stores a row for each ``task.routed`` whose ``outcome`` is set (the
router copies it from the ``sales.note``), keyed by the request's event id, so a
redelivered or regrouped record is one row. Lead quality (:mod:`lead_quality`) and a
task's detail read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.dialects import postgresql, sqlite

from schemas.events import CloudEvent
from schemas.sales import DealOutcome
from services.api.models.accounts import SALES_OUTCOMES

LIMITS = {"source": 512, "account": 320, "intent": 32, "lead_status": 16, "currency": 8,
          "loss_reason": 64, "lead_id": 128, "contact_id": 128, "opportunity_id": 128,
          "lead_source": 500, "campaign": 500}  # fmt: skip


class OutcomeOut(BaseModel):
    """What the CRM reported: the intent, the stage, the amount, the loss reason and the
    rep's own words behind it."""

    model_config = ConfigDict(from_attributes=True)

    event_id: str = Field(description="The sales note's event id")
    intent: str
    lead_status: str | None = None
    stage: str | None = None
    amount: float | None = None
    currency: str | None = None
    loss_reason: str | None = Field(default=None, description="From the agreed taxonomy")
    loss_reason_text: str | None = Field(default=None, description="The rep's own words")
    lead_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    lead_source: str | None = None
    campaign: str | None = None
    at: datetime = Field(description="When the CRM reported it")


def outcome_row(event: CloudEvent, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``sales_outcomes`` row of a ``task.routed`` (None: not an outcome)."""
    raw, origin = event.data.get("outcome"), event.data.get("origin_event_id")
    if not isinstance(raw, dict) or not isinstance(origin, str) or not origin:
        return None
    try:
        outcome = DealOutcome.model_validate(raw)
    except ValidationError:
        return None
    fields = _clipped(outcome.model_dump() | {"source": row["source"], "account": row["account"]})
    return fields | {"event_id": origin[:256], "task_id": row["task_id"], "at": row["raised_at"]}


def _clipped(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value[: LIMITS[name]] if isinstance(value, str) and name in LIMITS else value
        for name, value in fields.items()
    }


def store_outcome(conn: sa.Connection, event: CloudEvent, row: Mapping[str, Any]) -> bool:
    """Keep the outcome a routed task carries, once; True if it was new."""
    found = outcome_row(event, row)
    if found is None:
        return False
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SALES_OUTCOMES).values(found).on_conflict_do_nothing()
    return conn.execute(stmt.returning(SALES_OUTCOMES.c.event_id)).first() is not None


def task_outcomes(engine: sa.Engine, task_id: str) -> list[OutcomeOut]:
    """The outcomes routed into one task, oldest first."""
    query = sa.select(SALES_OUTCOMES).where(SALES_OUTCOMES.c.task_id == task_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(SALES_OUTCOMES.c.at)).mappings().all()
    return [OutcomeOut.model_validate(dict(r)) for r in rows]
