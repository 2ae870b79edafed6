"""Accounts: aliases (名寄せ) and deal outcomes (issue 11).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sales_outcomes",
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("intent", sa.String(32), nullable=False),
        sa.Column("lead_status", sa.String(16), nullable=True),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("loss_reason", sa.String(64), nullable=True),
        sa.Column("loss_reason_text", sa.Text(), nullable=True),
        sa.Column("lead_id", sa.String(128), nullable=True),
        sa.Column("contact_id", sa.String(128), nullable=True),
        sa.Column("opportunity_id", sa.String(128), nullable=True),
        sa.Column("lead_source", sa.String(500), nullable=True),
        sa.Column("campaign", sa.String(500), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_sales_outcomes")),
    )
    op.create_index("ix_sales_outcomes_at", "sales_outcomes", ["at"])
    op.create_index("ix_sales_outcomes_task_id", "sales_outcomes", ["task_id"])
    op.create_table(
        "account_aliases",
        sa.Column("alias", sa.String(320), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_account_aliases")),
    )
    op.create_index("ix_account_aliases_account", "account_aliases", ["account"])


def downgrade() -> None:
    op.drop_index("ix_account_aliases_account", table_name="account_aliases")
    op.drop_table("account_aliases")
    op.drop_index("ix_sales_outcomes_task_id", table_name="sales_outcomes")
    op.drop_index("ix_sales_outcomes_at", table_name="sales_outcomes")
    op.drop_table("sales_outcomes")
