"""Changes the asker made to a request already routed (comments, priority, status).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.db import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "origin_updates",
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("origin_event_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=True),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("previous_priority", sa.String(16), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("previous_status", sa.Text(), nullable=True),
        sa.Column("requester_email", sa.String(320), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("projected_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_origin_updates")),
    )
    op.create_index(
        "ix_origin_updates_origin_event_id_at", "origin_updates", ["origin_event_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_origin_updates_origin_event_id_at", table_name="origin_updates")
    op.drop_table("origin_updates")
