"""Reading tasks back: a team's queue, one task, per-team counts, answered latencies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.db import (
    OPEN,
    RESOLVED,
    Delivery,
    DeliveryAttempt,
    OriginUpdate,
    Task,
    TaskEvent,
    TaskOrigin,
    origins_of,
)
from services.api.errors import TaskNotFoundError
from services.api.lifecycle import ACTIVE, CLOSED

StateFilter = Literal[
    "open",
    "acknowledged",
    "in_progress",
    "resolved",
    "rejected",
    "reassigned",
    "reopened",
    "active",
    "all",
]
SlaFilter = Literal["ok", "breached", "met", "missed"]


@dataclass(frozen=True)
class TaskQuery:
    """Filters of ``GET /v1/tasks``; None means any."""

    team: str | None = None
    state: StateFilter = "all"
    sla: SlaFilter | None = None
    account: str | None = None
    department: str | None = None
    created_since: datetime | None = None
    updated_since: datetime | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: tasks are ordered by (raised_at, task_id)."""

    raised_at: datetime
    task_id: str


@dataclass(frozen=True)
class TeamStanding:
    team: str
    states: dict[str, int]
    backlog: int
    sla_breached: int
    oldest_open_raised_at: datetime | None
    events: int = 0


def _state_where(state: StateFilter) -> list[sa.ColumnElement[bool]]:
    if state == "all":
        return []
    if state == "active":
        return [Task.state.in_(sorted(ACTIVE))]
    return [Task.state == state]


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
        where = [Task.team == team, *_state_where(state)]  # "active": every ACTIVE state
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

    def list_tasks(
        self, query: TaskQuery, *, now: datetime, limit: int, after: Cursor | None
    ) -> list[Task]:
        """One page (``limit``) of matching tasks, oldest raised first, after ``after``."""
        where = _query_where(query, now) + _after_where(after)
        select = sa.select(Task).where(*where).order_by(Task.raised_at, Task.task_id).limit(limit)
        with self._session() as session:
            return list(session.scalars(select))

    def timeline(self, task_id: str) -> list[TaskEvent]:
        query = sa.select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.seq)
        with self._session() as session:
            return list(session.scalars(query))

    def account_tasks(self, account: str, *, limit: int) -> list[Task]:
        """The account's tasks across teams and departments, newest raised first."""
        with self._session() as session:
            return list(
                session.scalars(
                    sa.select(Task)
                    .where(Task.account == account)
                    .order_by(Task.raised_at.desc(), Task.task_id)
                    .limit(limit)
                )
            )

    def origins(self, task_id: str) -> list[TaskOrigin]:
        """The requests grouped into the task, oldest first."""
        with self._session() as session:
            return list(session.scalars(origins_of(task_id)))

    def origin_updates(self, task: Task, limit: int = 200) -> list[OriginUpdate]:
        """What the askers changed on the task's requests since, oldest first (the last
        ``limit``)."""
        of_task = sa.select(TaskOrigin.event_id).where(TaskOrigin.task_id == task.task_id)
        with self._session() as session:
            newest = list(
                session.scalars(
                    sa.select(OriginUpdate)
                    .where(
                        sa.or_(
                            OriginUpdate.origin_event_id.in_(of_task),
                            OriginUpdate.origin_event_id == task.source_event_id,
                        )
                    )
                    .order_by(OriginUpdate.at.desc(), OriginUpdate.event_id.desc())
                    .limit(limit)
                )
            )
        return newest[::-1]

    def deliveries(self, task_id: str) -> list[tuple[Delivery, list[DeliveryAttempt]]]:
        with self._session() as session:
            rows = list(
                session.scalars(
                    sa.select(Delivery)
                    .where(Delivery.task_id == task_id)
                    .order_by(Delivery.created_at, Delivery.delivery_id)
                )
            )
            attempts: dict[str, list[DeliveryAttempt]] = defaultdict(list)
            if rows:
                for attempt in session.scalars(
                    sa.select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id.in_([d.delivery_id for d in rows]))
                    .order_by(DeliveryAttempt.id)
                ):
                    attempts[attempt.delivery_id].append(attempt)
        return [(d, attempts[d.delivery_id]) for d in rows]

    def team_standings(self, *, now: datetime, team: str | None = None) -> list[TeamStanding]:
        """Per team: tasks per state, the backlog (active), how many are past their SLA."""
        where = [] if team is None else [Task.team == team]
        active = Task.state.in_(sorted(ACTIVE))
        with self._session() as session:
            counts = session.execute(
                sa.select(Task.team, Task.state, sa.func.count())
                .where(*where)
                .group_by(Task.team, Task.state)
            ).all()
            late = _per_team(session, sa.func.count(), *where, active, Task.sla_due < now)
            events = _per_team(session, sa.func.sum(Task.event_count), *where)
            oldest = _per_team(session, sa.func.min(Task.raised_at), *where, active)
        states: dict[str, dict[str, int]] = defaultdict(dict)
        for row_team, state, count in counts:
            states[row_team][state] = int(count)
        return [
            TeamStanding(
                team=name,
                states=by_state,
                backlog=sum(n for s, n in by_state.items() if s in ACTIVE),
                sla_breached=int(late.get(name, 0)),
                oldest_open_raised_at=oldest.get(name),
                events=int(events.get(name) or 0),
            )
            for name, by_state in sorted(states.items())
        ]

    def figure_rows(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        team: str | None,
        department: str | None,
    ) -> list[Any]:
        """Tasks raised in the window (and matching), for the latency and SLA figures.

        Rows with only the columns the figures need (not whole tasks: 100,000 of them).
        """
        where = _window_where(since, until, team, department)
        with self._session() as session:
            return list(session.execute(sa.select(*FIGURE_COLUMNS).where(*where)))

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


def _query_where(query: TaskQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The filters of ``GET /v1/tasks`` as SQL conditions."""
    where = _state_where(query.state)
    if query.team is not None:
        where.append(Task.team == query.team)
    if query.account is not None:
        where.append(Task.account == query.account)
    if query.department is not None:
        where.append(Task.department == query.department)
    if query.created_since is not None:
        where.append(Task.raised_at >= query.created_since)
    if query.updated_since is not None:
        where.append(sa.func.coalesce(Task.updated_at, Task.projected_at) >= query.updated_since)
    return where + _sla_where(query.sla, now)


def _sla_where(sla: SlaFilter | None, now: datetime) -> list[sa.ColumnElement[bool]]:
    if sla == "ok":
        return [Task.state.in_(sorted(ACTIVE)), Task.sla_due >= now]
    if sla == "breached":
        return [Task.state.in_(sorted(ACTIVE)), Task.sla_due < now]
    if sla == "met":
        return [Task.state.in_(sorted(CLOSED)), Task.resolved_at <= Task.sla_due]
    if sla == "missed":
        return [Task.state.in_(sorted(CLOSED)), Task.resolved_at > Task.sla_due]
    return []


def _after_where(after: Cursor | None) -> list[sa.ColumnElement[bool]]:
    """Past the cursor, in (raised_at, task_id) order."""
    if after is None:
        return []
    return [
        sa.or_(
            Task.raised_at > after.raised_at,
            sa.and_(Task.raised_at == after.raised_at, Task.task_id > after.task_id),
        )
    ]


def _per_team(
    session: Session, value: sa.ColumnElement[Any], *where: sa.ColumnElement[bool]
) -> dict[str, Any]:
    """Team -> ``value`` aggregated over the team's tasks matching ``where``."""
    query = sa.select(Task.team, value).where(*where).group_by(Task.team)
    return dict(session.execute(query).all())


FIGURE_COLUMNS = (
    Task.department,
    Task.team,
    Task.state,
    Task.raised_at,
    Task.routed_at,
    Task.acknowledged_at,
    Task.resolved_at,
    Task.sla_due,
    Task.feedback_latency_s,
)


def _window_where(
    since: datetime | None, until: datetime | None, team: str | None, department: str | None
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if since is not None:
        where.append(Task.raised_at >= since)
    if until is not None:
        where.append(Task.raised_at < until)
    if team is not None:
        where.append(Task.team == team)
    if department is not None:
        where.append(Task.department == department)
    return where
