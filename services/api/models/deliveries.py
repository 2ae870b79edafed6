"""Answers owed to origins: where each source wants them, each delivery and its attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime


class Callback(Base):
    """Where a source system wants its tasks' updates: URL, signing secret, body shape."""

    __tablename__ = "callbacks"

    source: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    secret: Mapped[str] = mapped_column(sa.String(256))
    format: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # How each delivery is sent (0006): the HTTP method, static headers (JSON) and the auth
    # (JSON: scheme, username, the *name* of the environment variable holding the secret).
    method: Mapped[str] = mapped_column(sa.String(8), default="POST", server_default="POST")
    headers: Mapped[str | None] = mapped_column(sa.Text)
    auth: Mapped[str | None] = mapped_column(sa.Text)


class Delivery(Base):
    """One update owed to an origin; ``delivery_id`` is its idempotency key."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_deliveries_task_id", "task_id"),
        sa.Index("ix_deliveries_delivered_at", "delivered_at"),  # the figures' edges (0005)
    )

    delivery_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("tasks.task_id"))
    event_id: Mapped[str] = mapped_column(sa.String(256))
    source: Mapped[str] = mapped_column(sa.String(512))
    task_state: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(2048))
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    origin_event_id: Mapped[str | None] = mapped_column(sa.String(256))
    origin_ref: Mapped[str | None] = mapped_column(sa.String(128))


class DeliveryAttempt(Base):
    """One attempt at a delivery: when, the HTTP status, how long, what failed."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (sa.Index("ix_delivery_attempts_delivery_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("deliveries.delivery_id"))
    attempt: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    latency_s: Mapped[float] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)


DELIVERIES: Final = cast(sa.Table, Delivery.__table__)
