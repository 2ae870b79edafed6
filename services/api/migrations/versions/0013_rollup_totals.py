"""Figures at a million tasks: tasks raised kept overall too, bins in a flat list (issue 12).

The overview's chart of tasks raised summed every key's row of every bucket (thousands a
week at a million tasks); the writers now keep one more row a bucket and answered_by,
department and team both ``*`` (as answers already were), and the chart reads those. Filled
here from the rows per key, for every grain; the per-key readers leave them out.
``ix_figure_rollups_grain_measure_key_bucket`` lets the charts read their totals without
the rows of every key in the same buckets.

The latency bins, ``{"bin": [count, sum]}`` until now, become a flat list ``[bin, count,
sum, ...]`` (``services.api.rollups.encode_bins``): a week's figures decode about 10 MB
of them at a million tasks, and a list of numbers decodes five times faster. The rows are
re-encoded here a bucket at a time (and back on downgrade); the same numbers, either way.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.api.models.base import UtcDateTime

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANY = "*"
MEASURE = "tasks"
ROLLUPS = sa.table(
    "figure_rollups",
    sa.column("grain", sa.String), sa.column("bucket", UtcDateTime()),
    sa.column("measure", sa.String), sa.column("department", sa.String),
    sa.column("team", sa.String), sa.column("answered_by", sa.String),
    sa.column("n", sa.Integer), sa.column("bins", sa.Text),
)  # fmt: skip
KEY = ("grain", "bucket", "measure", "department", "team", "answered_by")


INDEX = "ix_figure_rollups_grain_measure_key_bucket"


def upgrade() -> None:
    """Replace any totals (a rebuild by today's code, in 0005, writes them) by the sums."""
    op.create_index(INDEX, "figure_rollups", ["grain", "measure", "department", "team", "bucket"])
    _delete_totals()
    r = ROLLUPS.c
    total = sa.func.sum(r.n)
    sums = (
        sa.select(
            r.grain, r.bucket, r.measure, sa.literal(ANY), sa.literal(ANY), r.answered_by, total
        )
        .where(r.measure == MEASURE, r.department != ANY, r.team != ANY)
        .group_by(r.grain, r.bucket, r.measure, r.answered_by)
        .having(total != 0)
    )
    columns = ["grain", "bucket", "measure", "department", "team", "answered_by", "n"]
    op.execute(ROLLUPS.insert().from_select(columns, sums))
    _recode(op.get_bind(), _flat)
    _move_version()


def downgrade() -> None:
    _delete_totals()
    _recode(op.get_bind(), _nested)
    _move_version()
    op.drop_index(INDEX, table_name="figure_rollups")


def _delete_totals() -> None:
    r = ROLLUPS.c
    op.execute(ROLLUPS.delete().where(r.measure == MEASURE, r.department == ANY, r.team == ANY))


def _move_version() -> None:
    """A cached figure of before is stale now."""
    op.execute(ROLLUPS.update().where(ROLLUPS.c.grain == "version").values(n=ROLLUPS.c.n + 1))


def _flat(bins: Any) -> Any:
    """``{"bin": [count, sum]}`` as ``[bin, count, sum, ...]``, by bin (a list stays)."""
    if isinstance(bins, list):
        return bins
    return [x for i, (c, t) in sorted((int(i), v) for i, v in bins.items()) for x in (i, c, t)]


def _nested(bins: Any) -> Any:
    """``[bin, count, sum, ...]`` as ``{"bin": [count, sum]}`` (as 0005 to 0012 wrote it)."""
    if isinstance(bins, dict):
        return bins
    flat = iter(bins)
    return {str(i): [c, t] for i, c, t in zip(flat, flat, flat, strict=True)}


def _text(bins: Any) -> str:
    if isinstance(bins, list):
        return json.dumps(bins, separators=(",", ":"))
    return json.dumps(bins)


_UPDATE = (
    sa.update(ROLLUPS)
    .where(*(ROLLUPS.c[name] == sa.bindparam(f"k_{name}") for name in KEY))
    .values(bins=sa.bindparam("new_bins"))
)


def _recode(conn: sa.Connection, recode: Callable[[Any], Any]) -> None:
    """Every row's bins through ``recode``, a bucket at a time (a few thousand rows each).
    Not the version row's: from 0014 on it keeps an epoch there (0005's rebuild writes it)."""
    r = ROLLUPS.c
    with_bins = (r.bins.is_not(None), r.grain != "version")
    buckets = conn.execute(sa.select(r.grain, r.bucket).where(*with_bins).distinct())
    for grain, bucket in buckets.all():
        rows = conn.execute(
            sa.select(*(r[name] for name in KEY), r.bins).where(
                r.grain == grain, r.bucket == bucket, *with_bins
            )
        ).all()
        updates = [
            {**{f"k_{name}": value for name, value in zip(KEY, row[:6], strict=True)},
             "new_bins": _text(recode(json.loads(row.bins)))}
            for row in rows
        ]  # fmt: skip
        if updates:
            conn.execute(_UPDATE, updates)
