"""Tasks as teams see them: the task, the requests grouped into it, their changes, its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import OPEN, STATE_CHECK, Base, UtcDateTime


class Task(Base):
    """One routed task, as a team sees it, and its answer once resolved."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.CheckConstraint(STATE_CHECK, name="state"),
        sa.Index("ix_tasks_team_state_raised_at", "team", "state", "raised_at"),
        sa.Index("ix_tasks_account", "account"),
        sa.Index("ix_tasks_updated_at", "updated_at"),
        # the figures' exact edges of a window and their past-deadline counts (0005)
        sa.Index("ix_tasks_raised_at", "raised_at"),
        sa.Index("ix_tasks_resolved_at", "resolved_at"),
        sa.Index("ix_tasks_state_sla_due", "state", "sla_due"),
        sa.Index("ix_tasks_state_resolve_by", "state", "resolve_by"),
        sa.Index("ix_tasks_changed_in", "changed_in"),  # the tasks changed since a version (0015)
    )

    task_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    source_event_id: Mapped[str] = mapped_column(sa.String(256), unique=True)
    source: Mapped[str] = mapped_column(sa.String(512))
    team: Mapped[str] = mapped_column(sa.String(64))
    rule: Mapped[str] = mapped_column(sa.String(512))
    account: Mapped[str] = mapped_column(sa.String(320))
    priority: Mapped[str] = mapped_column(sa.String(16))
    component: Mapped[str | None] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text)
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    state: Mapped[str] = mapped_column(sa.String(16), default=OPEN)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    routed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sla_due: Mapped[datetime] = mapped_column(UtcDateTime)
    projected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(sa.Text)
    feedback_latency_s: Mapped[float | None] = mapped_column(sa.Float)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    department: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    feedback_delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledge_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_count: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    event_ids: Mapped[str | None] = mapped_column(sa.Text)  # JSON list: the grouped events
    summary: Mapped[str | None] = mapped_column(sa.Text)
    # 0005: the resolve deadline (sla_due is the acknowledge one when there is one), who
    # answered (router: the router answered itself; else a team), the team's department
    # (``department`` is the asking one: the origin's)
    resolve_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_by: Mapped[str | None] = mapped_column(sa.String(8))
    answering_department: Mapped[str | None] = mapped_column(sa.String(64))
    # the rollups' version in which the figures' facts of the task last changed (0015; none:
    # before); readers that keep the active tasks' deadlines re-read only the tasks changed
    changed_in: Mapped[int | None] = mapped_column(sa.BigInteger)


class TaskOrigin(Base):
    """One request grouped into a task, as its origin knows it: where the answer goes back."""

    __tablename__ = "task_origins"
    __table_args__ = (sa.Index("ix_task_origins_raised_at", "raised_at"),)

    task_id: Mapped[str] = mapped_column(
        sa.String(128), sa.ForeignKey("tasks.task_id"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(512))
    ref: Mapped[str | None] = mapped_column(sa.String(128))  # e.g. the Zendesk ticket id
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OriginUpdate(Base):
    """A change the asker made to a request already routed (a comment, a priority), as
    their tool reported it; it belongs to every task the request is in."""

    __tablename__ = "origin_updates"
    __table_args__ = (sa.Index("ix_origin_updates_origin_event_id_at", "origin_event_id", "at"),)

    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    origin_event_id: Mapped[str] = mapped_column(sa.String(256))
    source: Mapped[str] = mapped_column(sa.String(512))
    ref: Mapped[str] = mapped_column(sa.String(128))
    change: Mapped[str] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    public: Mapped[bool | None] = mapped_column(sa.Boolean)
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    previous_priority: Mapped[str | None] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.Text)
    previous_status: Mapped[str | None] = mapped_column(sa.Text)
    requester_email: Mapped[str] = mapped_column(sa.String(320))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    projected_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TaskEvent(Base):
    """One row of a task's timeline: a transition or a comment, as published."""

    __tablename__ = "task_events"
    __table_args__ = (sa.Index("ix_task_events_task_id_seq", "task_id", "seq"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("tasks.task_id"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    event_id: Mapped[str] = mapped_column(sa.String(256), unique=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(sa.String(128))
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    team: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str | None] = mapped_column(sa.Text)


def origins_of(task_id: str) -> sa.Select[TaskOrigin]:
    """The requests grouped into a task, oldest first."""
    of_task = sa.select(TaskOrigin).where(TaskOrigin.task_id == task_id)
    return of_task.order_by(TaskOrigin.raised_at, TaskOrigin.event_id)


TASKS: Final = cast(sa.Table, Task.__table__)
ORIGINS: Final = cast(sa.Table, TaskOrigin.__table__)
ORIGIN_UPDATES: Final = cast(sa.Table, OriginUpdate.__table__)
TASK_EVENTS: Final = cast(sa.Table, TaskEvent.__table__)
