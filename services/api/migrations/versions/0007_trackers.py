"""Tracker connectors: task <-> external issue mapping (issue 14).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracker_issues",
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("issue_key", sa.String(256), nullable=True),
        sa.Column("issue_url", sa.Text(), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team", "task_id", name=op.f("pk_tracker_issues")),
    )
    op.create_table(
        "tracker_changes",
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_tracker_changes")),
    )
    op.create_index(op.f("ix_tracker_changes_task_id"), "tracker_changes", ["task_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tracker_changes_task_id"), table_name="tracker_changes")
    op.drop_table("tracker_changes")
    op.drop_table("tracker_issues")
