"""The task <-> issue mapping of ``tracker_issues``: read, claimed before the call, updated,
and the last call the tracker kept refusing."""

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
        """The tracker took the call: its issue and what it now shows (a failure is over)."""
        values = {
            "issue_key": issue.key, "issue_url": issue.url, "snapshot": json.dumps(snapshot),
            "updated_at": now, "last_error": None, "failed_at": None,
        }  # fmt: skip
        self._update(task_id, values)

    def failed(self, task_id: str, reason: str, now: datetime) -> None:
        """The tracker kept refusing a call about the task (it was parked): the task page
        shows the reason until a later call succeeds. A task without a row has none to mark."""
        self._update(task_id, {"last_error": reason, "failed_at": now})

    def _update(self, task_id: str, values: dict[str, Any]) -> None:
        where = (TrackerIssue.team == self.team) & (TrackerIssue.task_id == task_id)
        with Session(self.engine) as session, session.begin():
            session.execute(sa.update(TrackerIssue).where(where).values(**values))


def task_trackers(engine: sa.Engine, task_id: str) -> list[dict[str, Any]]:
    """The task's tracker issues, each with its state (``payloads.tasks.TrackerOut``)."""
    query = sa.select(TrackerIssue).where(TrackerIssue.task_id == task_id)
    with Session(engine) as session:
        rows = session.scalars(query.order_by(TrackerIssue.created_at)).all()
        return [_tracker(row) for row in rows]


def _tracker(row: TrackerIssue) -> dict[str, Any]:
    state = "failed" if row.last_error else "synced" if row.issue_key else "pending"
    return {
        "team": row.team, "kind": row.kind, "issue_key": row.issue_key,
        "issue_url": row.issue_url, "state": state, "last_error": row.last_error,
        "failed_at": row.failed_at, "updated_at": row.updated_at,
    }  # fmt: skip
