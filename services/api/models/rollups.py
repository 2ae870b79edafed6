"""Figure rollups: counts and latency bins per hour (and day) x asking department x team x
answered_by.

Kept by the projector (and every other writer of task rows) in the same
transaction as the rows they describe, so the figures read a few rows instead
of scanning every task. ``grain`` is ``hour`` (``bucket`` = the hour's start),
``day`` (the UTC day's start: a week's window reads seven rows a key, not 168)
or ``all`` (one row per key for all time, ``bucket`` = the Unix epoch). Department and
team ``*`` (``services.api.tally.ANY``): a measure summed over them (answers, tasks raised).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime
from services.api.models.tasks import TASKS

HOUR: Final = "hour"
DAY: Final = "day"
ALL: Final = "all"
ALL_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
# the lifecycle's active states (services.api.lifecycle.ACTIVE, checked by a test), as SQL: a
# query with this very text in its WHERE can use the partial index below on both databases
ACTIVE_STATES: Final = ("acknowledged", "in_progress", "open", "reassigned", "reopened")
TOTALS_INDEX_COLUMNS: Final = ("grain", "measure", "department", "team", "bucket")
ACTIVE_SQL: Final = "state IN (" + ", ".join(f"'{state}'" for state in ACTIVE_STATES) + ")"


class FigureRollup(Base):
    """One measure's count (and latency bins) for one key and time bucket."""

    __tablename__ = "figure_rollups"
    # a window's read (0010): one measure's buckets of one grain, without the other measures';
    # the charts' read (0013): one measure's totals (department and team ``*``), not every key's
    # what changed since a version (0014): a reader's kept sums re-read only those keys
    __table_args__ = (
        sa.Index("ix_figure_rollups_grain_measure_bucket", "grain", "measure", "bucket"),
        sa.Index("ix_figure_rollups_grain_measure_key_bucket", *TOTALS_INDEX_COLUMNS),
        sa.Index("ix_figure_rollups_changed_in", "changed_in"),
    )

    grain: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    measure: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    team: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    answered_by: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    n: Mapped[int] = mapped_column(sa.Integer, default=0)
    bins: Mapped[str | None] = mapped_column(sa.Text)  # JSON [bin, count, sum, ...] (0013)
    # the bins' percentiles, kept on write: a read of all time decodes no bins
    p50: Mapped[float | None] = mapped_column(sa.Float)
    p90: Mapped[float | None] = mapped_column(sa.Float)
    p99: Mapped[float | None] = mapped_column(sa.Float)
    max: Mapped[float | None] = mapped_column(sa.Float)
    # the rollups' version in which this row last changed (0014; none: before, or rebuilt)
    changed_in: Mapped[int | None] = mapped_column(sa.BigInteger)


ROLLUPS: Final = cast(sa.Table, FigureRollup.__table__)


# The figures' view of the active tasks (0010): what is past a deadline and who has it, read
# from the index alone (a few entries a task still open, none for the closed ones).
ACTIVE_DUE_COLUMNS: Final = (
    "sla_due", "team", "raised_at", "department", "answered_by", "acknowledged_at", "resolve_by",
    "source",
)  # fmt: skip
ACTIVE_DUE: Final = sa.Index(
    "ix_tasks_active_sla_due",
    *(TASKS.c[name] for name in ACTIVE_DUE_COLUMNS),
    postgresql_where=sa.text(ACTIVE_SQL),
    sqlite_where=sa.text(ACTIVE_SQL),
)


def active() -> sa.TextClause:
    """The active tasks, as the partial index ``ix_tasks_active_sla_due`` says it."""
    return sa.text(ACTIVE_SQL)
