"""Reading tasks back: a team's queue, one task, per-team counts, answered latencies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.db import OPEN, RESOLVED, Task
from services.api.errors import TaskNotFoundError

StateFilter = Literal["open", "resolved", "all"]


@dataclass(frozen=True)
class TeamCounts:
    team: str
    open: int
    resolved: int


class SqlTaskRepository:
    """Queries over the ``tasks`` table (SQLAlchemy, any supported dialect)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def get(self, task_id: str) -> Task:
        with self._session() as session:
            task = session.get(Task, task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def team_tasks(
        self, team: str, *, state: StateFilter, limit: int, offset: int
    ) -> tuple[int, list[Task]]:
        """How many of the team's tasks match, and one page of them, oldest raised first."""
        where = [Task.team == team]
        if state != "all":
            where.append(Task.state == state)
        page = (
            sa.select(Task)
            .where(*where)
            .order_by(Task.raised_at, Task.task_id)
            .limit(limit)
            .offset(offset)
        )
        with self._session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Task).where(*where))
            tasks = list(session.scalars(page))
        return int(total or 0), tasks

    def team_counts(self) -> list[TeamCounts]:
        """Open and resolved task counts for every team that has tasks, by team name."""
        query = (
            sa.select(Task.team, Task.state, sa.func.count())
            .group_by(Task.team, Task.state)
            .order_by(Task.team)
        )
        counts: dict[str, dict[str, int]] = defaultdict(lambda: {OPEN: 0, RESOLVED: 0})
        with self._session() as session:
            for team, state, count in session.execute(query):
                counts[team][state] = int(count)
        return [TeamCounts(team, c[OPEN], c[RESOLVED]) for team, c in sorted(counts.items())]

    def feedback_latencies(
        self, *, team: str | None = None, since: datetime | None = None
    ) -> dict[str, list[float]]:
        """Team -> feedback latencies (seconds) of the tasks resolved at or after ``since``."""
        query = sa.select(Task.team, Task.feedback_latency_s).where(
            Task.state == RESOLVED, Task.feedback_latency_s.is_not(None)
        )
        if team is not None:
            query = query.where(Task.team == team)
        if since is not None:
            query = query.where(Task.resolved_at >= since)
        latencies: dict[str, list[float]] = defaultdict(list)
        with self._session() as session:
            for row_team, latency in session.execute(query):
                if latency is not None:
                    latencies[row_team].append(float(latency))
        return dict(sorted(latencies.items()))

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
