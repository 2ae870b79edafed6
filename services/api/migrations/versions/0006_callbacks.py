"""Callbacks: method, headers and auth per callback (issue 16, item 8).

``callbacks.method`` (POST for every callback registered before), ``headers`` (JSON of
static headers) and ``auth`` (JSON: scheme, username, the name of the environment
variable that holds the secret; never the secret itself).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("method", sa.String(8), nullable=False, server_default="POST"))
        batch.add_column(sa.Column("headers", sa.Text(), nullable=True))
        batch.add_column(sa.Column("auth", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("auth")
        batch.drop_column("headers")
        batch.drop_column("method")
