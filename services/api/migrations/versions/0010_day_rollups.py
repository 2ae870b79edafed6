"""Figures at a million tasks: daily rollups, an index per measure, the active tasks' index (12).

A week's window read about 220,000 hourly rollup rows; whole days now come from one row a
key a day (``grain = 'day'``), filled here from the hourly rows (their sums are the day's;
the writers keep both from now on). ``ix_figure_rollups_grain_measure_bucket`` lets a read
of one measure skip the others' rows; ``ix_tasks_active_sla_due`` (partial: active tasks
only) answers "what is past its deadline, and whose" from the index alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_SQL = "state IN ('acknowledged', 'in_progress', 'open', 'reassigned', 'reopened')"
ACTIVE_DUE_COLUMNS = [
    "sla_due", "team", "raised_at", "department", "answered_by", "acknowledged_at", "resolve_by",
    "source",
]  # fmt: skip
KEY = ("measure", "department", "team", "answered_by")
ROLLUPS = sa.table(
    "figure_rollups",
    sa.column("grain", sa.String), sa.column("bucket", UtcDateTime()),
    sa.column("measure", sa.String), sa.column("department", sa.String),
    sa.column("team", sa.String), sa.column("answered_by", sa.String),
    sa.column("n", sa.Integer), sa.column("bins", sa.Text),
)  # fmt: skip
Day = dict[tuple[str, ...], Any]  # key -> Delta


def upgrade() -> None:
    op.create_index(
        "ix_figure_rollups_grain_measure_bucket", "figure_rollups", ["grain", "measure", "bucket"]
    )
    op.create_index(
        "ix_tasks_active_sla_due",
        "tasks",
        ACTIVE_DUE_COLUMNS,
        postgresql_where=sa.text(ACTIVE_SQL),
        sqlite_where=sa.text(ACTIVE_SQL),
    )
    _fill_days(op.get_bind())


def _fill_days(conn: sa.Connection) -> None:
    """One day row per key and UTC day: the sum of its hourly rows, a day at a time. (0005's
    rebuild, run by today's code on an older database, may have written day rows: they are
    replaced by the same sums.)"""
    r = ROLLUPS.c
    conn.execute(ROLLUPS.delete().where(r.grain == "day"))
    first, last = conn.execute(
        sa.select(sa.func.min(r.bucket), sa.func.max(r.bucket)).where(r.grain == "hour")
    ).one()
    day = first.replace(hour=0) if first is not None else None
    while day is not None and day <= last:
        _fill_day(conn, day)
        day += timedelta(days=1)
    conn.execute(ROLLUPS.update().where(r.grain == "version").values(n=r.n + 1))


def _fill_day(conn: sa.Connection, day: datetime) -> None:
    r = ROLLUPS.c
    query = sa.select(r.measure, r.department, r.team, r.answered_by, r.n, r.bins).where(
        r.grain == "hour", r.bucket >= day, r.bucket < day + timedelta(days=1)
    )
    sums: Day = {}
    for *key, n, bins in conn.execute(query).all():
        _add(sums, tuple(key), n, bins)
    _insert_day(conn, day, sums)


def _add(sums: Day, key: tuple[str, ...], n: int, bins: str | None) -> None:
    from services.api.rollups import decode_bins
    from services.api.tally import Delta

    sums.setdefault(key, Delta()).merge(Delta(n, decode_bins(bins)))


def _insert_day(conn: sa.Connection, day: datetime, sums: Day) -> None:
    from services.api.rollups import encode_bins

    rows = [
        {"grain": "day", "bucket": day, **dict(zip(KEY, key, strict=True)), "n": delta.n,
         "bins": encode_bins(delta)}
        for key, delta in sorted(sums.items())
        if not delta.is_empty()
    ]  # fmt: skip
    if rows:
        conn.execute(ROLLUPS.insert(), rows)


def downgrade() -> None:
    op.execute(ROLLUPS.delete().where(ROLLUPS.c.grain == "day"))
    op.drop_index("ix_tasks_active_sla_due", table_name="tasks")
    op.drop_index("ix_figure_rollups_grain_measure_bucket", table_name="figure_rollups")
