"""What the API says about capacity: units held per line, each hold, a task's rush order."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LineHolds(BaseModel):
    plant: str
    line: str
    holds: int = Field(description="Holds in force on the line")
    units_held: int = Field(description="Units they hold, all dates together")
    next_expiry: datetime | None = Field(description="When the first of them expires")


class LinesOut(BaseModel):
    lines: list[LineHolds]


class HoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    hold_id: str
    task_id: str = Field(description="The rush order's task")
    plant: str
    line: str
    units: int
    ready_by: date = Field(description="The date the last held unit is made")
    expires_at: datetime
    state: Literal["held", "released", "expired"]
    reason: str | None = Field(description="Why released: deal_lost, deal_cancelled, expired")
    released_at: datetime | None


class HoldsOut(BaseModel):
    holds: list[HoldOut]


class OrderOut(BaseModel):
    """A task's rush order as the router answered it."""

    kind: Literal["held", "planning", "refused"]
    locale: str | None = Field(description="The asker's language, if the request named it")
    fields: dict[str, Any] = Field(
        description="held: plant, line, units, ready_by, expires_at; planning: product, "
        "quantity, due_date, plant, candidates, shortfall per date, earliest_feasible; "
        "refused: code, reason, product, quantity, due_date"
    )
    answer: str | None = Field(description="The router's own answer, if it gave one")
