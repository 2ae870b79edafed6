"""Figure rollups: counts and latency bins per hour x asking department x team x answered_by.

Kept by the projector (and every other writer of task rows) in the same
transaction as the rows they describe, so the figures read a few rows instead
of scanning every task. ``grain`` is ``hour`` (``bucket`` = the hour's start)
or ``all`` (one row per key for all time, ``bucket`` = the Unix epoch).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime

HOUR: Final = "hour"
ALL: Final = "all"
ALL_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)


class FigureRollup(Base):
    """One measure's count (and latency bins) for one key and time bucket."""

    __tablename__ = "figure_rollups"

    grain: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    measure: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    team: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    answered_by: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    n: Mapped[int] = mapped_column(sa.Integer, default=0)
    bins: Mapped[str | None] = mapped_column(sa.Text)  # JSON {"bin": [count, sum]}
    # the bins' percentiles, kept on write: a read of all time decodes no bins
    p50: Mapped[float | None] = mapped_column(sa.Float)
    p90: Mapped[float | None] = mapped_column(sa.Float)
    p99: Mapped[float | None] = mapped_column(sa.Float)
    max: Mapped[float | None] = mapped_column(sa.Float)


ROLLUPS: Final = cast(sa.Table, FigureRollup.__table__)
