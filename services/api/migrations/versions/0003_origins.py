"""Every request grouped into a task, so each origin gets the answer; deliveries name theirs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.db import UtcDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_origins",
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("ref", sa.String(128), nullable=True),
        sa.Column("requester_email", sa.String(320), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_origins_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("task_id", "event_id", name=op.f("pk_task_origins")),
    )
    # Tasks stored before 0003 have one known origin: their first event.
    op.execute(
        "INSERT INTO task_origins (task_id, event_id, source, ref, requester_email, raised_at) "
        "SELECT task_id, source_event_id, source, NULL, requester_email, raised_at FROM tasks"
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("origin_event_id", sa.String(256), nullable=True))
        batch.add_column(sa.Column("origin_ref", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("origin_ref")
        batch.drop_column("origin_event_id")
    op.drop_table("task_origins")
