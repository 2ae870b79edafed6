"""Figures on a cache miss at a million tasks: which rollup rows changed since a version.

A window's figures sum tens of thousands of rollup rows at a million tasks (a 30-day
overview about 115,000), and any task change moved the rollups' version on, so the next
read summed them all again. Each row now says in which version it last changed
(``changed_in``, set by the writers under the version row's lock), so a reader that kept a
window's sums at version N re-reads only the keys of the rows changed after N
(``services.api.rollup_reads``). Rows written before have none: a reader's first read of a
window is a full one anyway.

The version row also keeps an epoch in ``bins`` (random, new with every rebuild and every
new database): sums kept for another epoch are never patched, only read again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_figure_rollups_changed_in"


def upgrade() -> None:
    op.add_column("figure_rollups", sa.Column("changed_in", sa.BigInteger(), nullable=True))
    op.create_index(INDEX, "figure_rollups", ["changed_in"])
    # rows changed by earlier migrations say nothing of it: a new epoch, read them whole
    epoch = secrets.token_hex(8)
    op.execute(f"UPDATE figure_rollups SET bins = '{epoch}' WHERE grain = 'version'")  # noqa: S608 hex


def downgrade() -> None:
    # the epoch is no list of bins: 0013's downgrade re-encodes every row's
    op.execute("UPDATE figure_rollups SET bins = NULL WHERE grain = 'version'")
    op.drop_index(INDEX, table_name="figure_rollups")
    with op.batch_alter_table("figure_rollups") as batch:
        batch.drop_column("changed_in")
