"""The task <-> issue mapping of ``tracker_issues``: read, claimed before the call, updated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.models.trackers import TrackerIssue
from services.connectors.base import IssueRef


@dataclass(frozen=True)
class Mapped:
    """What is known of a task's issue: none yet (``issue`` None) or its key and snapshot."""

    issue: IssueRef | None
    snapshot: dict[str, Any]


class TrackerStore:
    """One team's rows; every write commits at once (the consumer commits offsets after)."""

    def __init__(self, engine: sa.Engine, team: str, kind: str) -> None:
        self.engine, self.team, self.kind = engine, team, kind

    def get(self, task_id: str) -> Mapped | None:
        with Session(self.engine) as session:
            row = session.get(TrackerIssue, (self.team, task_id))
            if row is None:
                return None
            issue = IssueRef(row.issue_key, row.issue_url) if row.issue_key else None
            return Mapped(issue, json.loads(row.snapshot))

    def claim(self, task_id: str, snapshot: dict[str, Any], now: datetime) -> None:
        """The row, written before the issue is created (so a retry looks first)."""
        row = TrackerIssue(
            team=self.team, task_id=task_id, kind=self.kind, issue_key=None, issue_url=None,
            snapshot=json.dumps(snapshot), created_at=now, updated_at=now,
        )  # fmt: skip
        with Session(self.engine) as session, session.begin():
            session.merge(row)

    def record(
        self, task_id: str, issue: IssueRef, snapshot: dict[str, Any], now: datetime
    ) -> None:
        values = {
            "issue_key": issue.key, "issue_url": issue.url, "snapshot": json.dumps(snapshot),
            "updated_at": now,
        }  # fmt: skip
        where = (TrackerIssue.team == self.team) & (TrackerIssue.task_id == task_id)
        with Session(self.engine) as session, session.begin():
            session.execute(sa.update(TrackerIssue).where(where).values(**values))
