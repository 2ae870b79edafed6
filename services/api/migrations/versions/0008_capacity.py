"""Capacity, orders and holds as the API shows them (issue 11).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_orders",
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(8), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("refused", sa.String(64), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_orders")),
    )
    op.create_table(
        "capacity_holds",
        sa.Column("hold_id", sa.String(128), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("plant", sa.String(128), nullable=False),
        sa.Column("line", sa.String(128), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("ready_by", sa.Date(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_capacity_holds")),
    )
    op.create_index(op.f("ix_capacity_holds_task_id"), "capacity_holds", ["task_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_capacity_holds_task_id"), table_name="capacity_holds")
    op.drop_table("capacity_holds")
    op.drop_table("task_orders")
