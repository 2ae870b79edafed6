"""Task lifecycle, timeline, API tokens, callbacks and their delivery log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.db import UtcDateTime
from services.api.lifecycle import department_of

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_STATES = (
    "state IN ('open', 'acknowledged', 'in_progress', 'resolved', 'rejected', "
    "'reassigned', 'reopened')"
)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint(op.f("ck_tasks_state"), type_="check")
        batch.create_check_constraint("state", sa.text(ALL_STATES))
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch.add_column(sa.Column("updated_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("feedback_delivered_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledge_by", UtcDateTime(), nullable=True))
        batch.add_column(
            sa.Column("event_count", sa.Integer(), server_default="1", nullable=False)
        )
        batch.add_column(sa.Column("event_ids", sa.Text(), nullable=True))
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch.create_index("ix_tasks_updated_at", ["updated_at"])
    tasks = sa.table("tasks", sa.column("task_id", sa.String), sa.column("source", sa.String),
                     sa.column("department", sa.String))
    conn = op.get_bind()
    for task_id, source in conn.execute(sa.select(tasks.c.task_id, tasks.c.source)).all():
        conn.execute(
            tasks.update().where(tasks.c.task_id == task_id).values(department=department_of(source))
        )

    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_task_events_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_task_events_event_id")),
    )
    op.create_index("ix_task_events_task_id_seq", "task_events", ["task_id", "seq"])
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "callbacks",
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_callbacks")),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("task_state", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.task_id"], name=op.f("fk_deliveries_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_deliveries")),
    )
    op.create_index(
        "ix_deliveries_state_next_attempt_at", "deliveries", ["state", "next_attempt_at"]
    )
    op.create_index("ix_deliveries_task_id", "deliveries", ["task_id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.delivery_id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        "ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_task_id", table_name="deliveries")
    op.drop_index("ix_deliveries_state_next_attempt_at", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("callbacks")
    op.drop_table("api_tokens")
    op.drop_index("ix_task_events_task_id_seq", table_name="task_events")
    op.drop_table("task_events")
    # Tasks in the new states cannot be kept under the old constraint: they count as open.
    op.execute(
        "UPDATE tasks SET state = 'open' WHERE state NOT IN ('open', 'resolved')"
    )
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_updated_at")
        batch.drop_column("summary")
        batch.drop_column("event_ids")
        batch.drop_column("event_count")
        batch.drop_column("acknowledge_by")
        batch.drop_column("feedback_delivered_at")
        batch.drop_column("acknowledged_at")
        batch.drop_column("updated_at")
        batch.drop_column("department")
        batch.drop_constraint(op.f("ck_tasks_state"), type_="check")
        batch.create_check_constraint("state", sa.text("state IN ('open', 'resolved')"))
