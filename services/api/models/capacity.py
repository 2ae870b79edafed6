"""Rush orders as the router answered them, and the units held on each line (issue 11).

``task_orders``: one row per task that is a rush order: what the router made of it
(``held``, ``planning`` or ``refused``) and its structured fields as JSON
(``schemas.orders.PlanningRequest`` / ``HeldUnits``). ``capacity_holds``: one row per
hold, ``held`` until the router reports it ``released`` (a lost deal) or ``expired``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime

TASK_ORDERS: Final = "task_orders"
CAPACITY_HOLDS: Final = "capacity_holds"


class TaskOrder(Base):
    """A rush order's answer: its kind, the asker's language and its structured fields."""

    __tablename__ = TASK_ORDERS

    task_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # held, planning or refused
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    fields: Mapped[str] = mapped_column(sa.Text)  # JSON: PlanningRequest or HeldUnits
    refused: Mapped[str | None] = mapped_column(sa.String(64))  # the code, if refused
    answer: Mapped[str | None] = mapped_column(sa.Text)  # the router's own words
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class CapacityHold(Base):
    """Units held on one line for one answered rush order."""

    __tablename__ = CAPACITY_HOLDS

    hold_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    account: Mapped[str] = mapped_column(sa.String(320))
    plant: Mapped[str] = mapped_column(sa.String(128))
    line: Mapped[str] = mapped_column(sa.String(128))
    units: Mapped[int] = mapped_column(sa.Integer)
    ready_by: Mapped[date] = mapped_column(sa.Date)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(sa.String(16), default="held")
    reason: Mapped[str | None] = mapped_column(sa.String(32))  # expired, deal_lost, ...
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
