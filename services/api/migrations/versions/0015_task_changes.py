"""Overdue counts and SLA standing on a cache miss at a million tasks: which tasks changed.

The figures count the active tasks past a deadline and the SLA standing splits them by
how near their deadline is; both were a scan of every active task (about 71,000 at a
million tasks) at every version of the rollups, that is after every task change. Each
task now says in which version its figures' facts last changed (``changed_in``, set by
the writers with the rollups, under the version row's lock), so a reader that keeps the
active tasks' deadlines at version N re-reads only the tasks changed after N
(``services.api.active_kept``). Tasks changed before have none: a reader's first read is
a full one anyway, and a new epoch makes every reader's first read a full one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_tasks_changed_in"


def upgrade() -> None:
    op.add_column("tasks", sa.Column("changed_in", sa.BigInteger(), nullable=True))
    op.create_index(INDEX, "tasks", ["changed_in"])
    epoch = secrets.token_hex(8)  # tasks changed before say nothing of it: read them whole
    op.execute(f"UPDATE figure_rollups SET bins = '{epoch}' WHERE grain = 'version'")  # noqa: S608 hex


def downgrade() -> None:
    op.drop_index(INDEX, table_name="tasks")
    # Not batch mode: copying tasks on SQLite would trip the foreign keys of the rows that
    # refer to it; SQLite (3.35 and later) drops a column that is in no index in place.
    op.drop_column("tasks", "changed_in")
