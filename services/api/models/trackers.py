"""Which tracker issue holds which task, per team: the mapping that prevents duplicates.

A row is written *before* the tracker is asked to create the issue (``issue_key``
still empty): if the call fails ambiguously, the retry looks the issue up by its
handoff marker instead of creating a second one.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime


class TrackerIssue(Base):
    """One task's issue in one team's tracker, and what the tracker was last told."""

    __tablename__ = "tracker_issues"

    team: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    issue_key: Mapped[str | None] = mapped_column(sa.String(256))
    issue_url: Mapped[str | None] = mapped_column(sa.Text)
    snapshot: Mapped[str] = mapped_column(sa.Text)  # JSON: content.snapshot of the task
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # the last call the tracker kept refusing (parked in handoff.dlq), until one succeeds
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


TRACKER_ISSUES = TrackerIssue.__table__


class TrackerChangeApplied(Base):
    """A tracker webhook's change, applied once (by its event id); notes are kept as the
    answer a later close without words will use."""

    __tablename__ = "tracker_changes"

    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    action: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)


TRACKER_CHANGES = TrackerChangeApplied.__table__
