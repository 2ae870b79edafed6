"""The tasks table: routed tasks and their answers.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.db import UtcDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("source_event_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(512), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("component", sa.String(64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("requester_email", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("routed_at", UtcDateTime(), nullable=False),
        sa.Column("sla_due", UtcDateTime(), nullable=False),
        sa.Column("projected_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("feedback_latency_s", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_tasks_state")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("source_event_id", name=op.f("uq_tasks_source_event_id")),
    )
    op.create_index("ix_tasks_team_state_raised_at", "tasks", ["team", "state", "raised_at"])
    op.create_index("ix_tasks_account", "tasks", ["account"])


def downgrade() -> None:
    op.drop_index("ix_tasks_account", table_name="tasks")
    op.drop_index("ix_tasks_team_state_raised_at", table_name="tasks")
    op.drop_table("tasks")
