"""Tracker failures on the task: the last refused call of each task's tracker issue (issue 14).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tracker_issues") as batch:
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("failed_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracker_issues") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("last_error")
