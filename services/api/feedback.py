"""Resolving a task: the answer goes back to whoever asked, as a ``task.feedback`` event.

The database change and the event are tied together: the task is updated in
a transaction that commits only after the broker acknowledged the event
(``acks=all``). If the broker does not answer, the transaction is rolled back
and the caller is told to retry (503). The event id is derived from the task
id, so a retry after an ambiguous failure is deduplicated downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schemas import topics
from schemas.events import (
    TASK_FEEDBACK,
    CloudEvent,
    TaskFeedback,
    TaskState,
    derived_id,
    envelope,
)
from services.api.callbacks import schedule_delivery
from services.api.clock import Clock
from services.api.db import RESOLVED, STATES, Task, TaskEvent
from services.api.errors import (
    BadActionError,
    FeedbackUnavailableError,
    InvalidTransitionError,
    TaskNotFoundError,
    VersionConflictError,
)
from services.api.lifecycle import ACTIONS, target_state
from services.api.metrics import ApiMetrics
from services.api.producer import AckedProducer, PublishError

FEEDBACK_SOURCE: Final = "/handoff/api"


class FeedbackPublisher(Protocol):
    """Publishes a feedback event and returns once it is durably accepted.

    Raises :class:`FeedbackUnavailableError` when it cannot say the event is stored.
    """

    def publish(self, event: CloudEvent, *, key: str) -> None: ...

    def close(self) -> None: ...


class KafkaFeedbackPublisher:
    """Feedback on ``schemas.topics.FEEDBACK``; waits for the broker's ``acks=all``."""

    def __init__(self, bootstrap: str, *, ack_timeout_s: float = 10.0) -> None:
        self._producer = AckedProducer(
            bootstrap, client_id="handoff-api-feedback", ack_timeout_s=ack_timeout_s
        )

    def publish(self, event: CloudEvent, *, key: str) -> None:
        try:
            self._producer.send(topics.FEEDBACK, key=key.encode("utf-8"), value=event.to_bytes())
        except PublishError as exc:
            raise FeedbackUnavailableError(exc.reason) from exc

    def close(self) -> None:
        self._producer.close()


def lifecycle_event(
    task: Task, *, type_: str, status: str, message: str, at: datetime, event_id: str
) -> CloudEvent:
    """A lifecycle event (``task.acknowledged``, ``task.commented``, ...) about ``task``."""
    data = TaskFeedback(
        task_id=task.task_id,
        source_event_id=task.source_event_id,
        source=task.source,
        team=task.team,
        status=TaskState(status),
        message=message,
        raised_at=task.raised_at,
        answered_at=at,
    )
    return envelope(
        type_=type_,
        source=FEEDBACK_SOURCE,
        data=data,
        time=at,
        event_id=event_id,
        subject=task.task_id,
    )


@dataclass(frozen=True)
class Change:
    """What a caller asks of a task."""

    action: str
    message: str = ""
    actor: str = "api"
    to_team: str | None = None
    expected_version: int | None = None
    visible_team: str | None = None  # a team token sees only its own team's tasks
    public: bool | None = None  # a comment the asker may read (default: closing states only)


def change_task(
    engine: sa.Engine,
    task_id: str,
    change: Change,
    *,
    publisher: FeedbackPublisher,
    clock: Clock,
    metrics: ApiMetrics | None = None,
) -> Task:
    """Apply one lifecycle action (or a comment) and publish it, all or nothing.

    The row, its timeline entry and any callback owed to the origin are
    committed only after the broker acknowledged the event(s). Raises
    :class:`TaskNotFoundError`, :class:`InvalidTransitionError` (naming the
    current state), :class:`VersionConflictError`, :class:`BadActionError` or
    :class:`FeedbackUnavailableError` (nothing changed).
    """
    action = ACTIONS[change.action]
    with Session(engine, expire_on_commit=False) as session, session.begin():
        task = session.get(Task, task_id, with_for_update=True)  # FOR UPDATE: PostgreSQL only
        if task is None or (change.visible_team is not None and task.team != change.visible_team):
            raise TaskNotFoundError(task_id)
        if change.expected_version is not None and change.expected_version != task.version:
            raise VersionConflictError(task_id, task.state, task.version, change.expected_version)
        target = target_state(action, task.state)
        if target is None:
            raise InvalidTransitionError(
                task_id, task.state, action.name, sorted(action.allowed_from, key=STATES.index)
            )
        if action.needs_message and not change.message:
            raise BadActionError("body.message", f"{action.name} needs a message")
        now = clock()
        values = _values_for(action.name, task, change, now)
        from_state, old_team = task.state, task.team
        claim = (
            sa.update(Task)
            .where(Task.task_id == task_id, Task.version == task.version)
            .values(state=target, version=task.version + 1, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        claimed = cast(sa.CursorResult[Any], session.execute(claim))
        if claimed.rowcount != 1:  # changed in between (SQLite has no FOR UPDATE)
            session.refresh(task)
            raise VersionConflictError(task_id, task.state, task.version, task.version)
        session.refresh(task)
        seq = 1 + int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(TaskEvent)
                .where(TaskEvent.task_id == task_id)
            )
            or 0
        )
        event_id = derived_id(action.event_type, task_id, str(seq))
        events = [
            lifecycle_event(
                task,
                type_=action.event_type,
                status=target,
                message=change.message,
                at=now,
                event_id=event_id,
            )
        ]
        if action.name == "resolve":
            answered_before = session.scalar(
                sa.select(sa.func.count())
                .select_from(TaskEvent)
                .where(TaskEvent.task_id == task_id, TaskEvent.to_state == RESOLVED)
            )
            feedback_id = (
                derived_id(TASK_FEEDBACK, task_id)
                if not answered_before
                else derived_id(TASK_FEEDBACK, task_id, str(seq))
            )
            events.insert(
                0,
                lifecycle_event(
                    task,
                    type_=TASK_FEEDBACK,
                    status=target,
                    message=change.message,
                    at=now,
                    event_id=feedback_id,
                ),
            )
        session.add(
            TaskEvent(
                task_id=task_id,
                seq=seq,
                event_id=event_id,
                type=action.event_type,
                at=now,
                actor=change.actor[:128],
                from_state=from_state,
                to_state=target,
                team=old_team if action.name != "reassign" else task.team,
                message=change.message or None,
            )
        )
        schedule_delivery(
            session,
            task,
            event_id=event_id,
            state=target,
            message=change.message,
            now=now,
            event_type=action.event_type,
            public=change.public,
        )
        try:
            for event in events:
                publisher.publish(event, key=task.account)
        except FeedbackUnavailableError:
            if metrics is not None:
                metrics.feedback_failures.inc()
            raise
    if metrics is not None:
        _observe(metrics, action.name, action.event_type, task, now)
    return task


def _values_for(action: str, task: Task, change: Change, now: datetime) -> dict[str, Any]:
    if action == "acknowledge" or (action == "start" and task.acknowledged_at is None):
        return {"acknowledged_at": now}
    if action == "resolve":
        latency = max(0.0, (now - task.raised_at).total_seconds())
        return {"resolution": change.message, "resolved_at": now, "feedback_latency_s": latency}
    if action == "reject":
        return {"resolution": change.message, "resolved_at": now}
    if action == "reopen":
        return {
            "resolution": None,
            "resolved_at": None,
            "feedback_latency_s": None,
            "feedback_delivered_at": None,
        }
    if action == "reassign":
        if change.to_team is None:
            raise BadActionError("body.team", "reassign needs the team to hand the task to")
        if change.to_team == task.team:
            raise BadActionError("body.team", f"the task is with {task.team} already")
        return {"team": change.to_team, "acknowledged_at": None}
    return {}


def _observe(metrics: ApiMetrics, action: str, event_type: str, task: Task, now: datetime) -> None:
    metrics.transitions.labels(type=event_type, team=task.team).inc()
    department = task.department or "unknown"
    since_raised = max(0.0, (now - task.raised_at).total_seconds())
    if action == "acknowledge" or (action == "start" and task.acknowledged_at == now):
        metrics.time_to_acknowledge.labels(team=task.team, department=department).observe(
            since_raised
        )
    if action == "resolve":
        metrics.tasks_resolved.labels(team=task.team).inc()
        metrics.feedback_latency.labels(team=task.team).observe(since_raised)
        metrics.time_to_resolve.labels(team=task.team, department=department).observe(since_raised)


def resolve_task(
    engine: sa.Engine,
    task_id: str,
    message: str,
    *,
    publisher: FeedbackPublisher,
    clock: Clock,
    metrics: ApiMetrics | None = None,
) -> Task:
    """Resolve a task and publish its answer (``task.feedback``) and ``task.resolved``."""
    return change_task(
        engine,
        task_id,
        Change("resolve", message=message),
        publisher=publisher,
        clock=clock,
        metrics=metrics,
    )
