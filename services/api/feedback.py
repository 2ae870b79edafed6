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
    TASK_ROUTED,
    CloudEvent,
    TaskFeedback,
    TaskRouted,
    TaskState,
    derived_id,
    envelope,
)
from services.api.callbacks import schedule_delivery
from services.api.capacity_answers import locale_of, order_answer
from services.api.clock import Clock
from services.api.db import RESOLVED, STATES, Task, TaskEvent
from services.api.errors import (
    BadActionError,
    FeedbackUnavailableError,
    InvalidTransitionError,
    TaskNotFoundError,
    VersionConflictError,
)
from services.api.lifecycle import ACTIONS, Action, target_state
from services.api.metrics import ApiMetrics
from services.api.producer import AckedProducer, PublishError
from services.api.rollups import locked_snapshot, retally

FEEDBACK_SOURCE: Final = "/handoff/api"
ORDER_ANSWER: Final = "order.answer"  # the router's answer to a rush order, owed to the rep


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
        task = _locked_task(session, task_id, change)
        rollups = locked_snapshot(session.connection(), [task_id])  # for the figures' rollups
        target = _target(action, task, change)
        now = clock()
        values = _values_for(action.name, task, change, now)
        before = _Before(task.state, task.team)
        _claim(session, task, target, values, now)
        retally(session.connection(), [task_id], rollups)
        seq = _next_seq(session, task_id)
        event_id = derived_id(action.event_type, task_id, str(seq))
        events = _events(session, task, action, change, target, now, seq)
        session.add(_timeline_entry(task, action, change, before, target, now, seq))
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
        _publish(publisher, events, task.account, metrics)
    if metrics is not None:
        _observe(metrics, action.name, action.event_type, task, now)
    return task


@dataclass(frozen=True)
class _Before:
    """The task's state and team before the change (the timeline shows both)."""

    state: str
    team: str


def _locked_task(session: Session, task_id: str, change: Change) -> Task:
    """The task, locked for the change (FOR UPDATE: PostgreSQL only), at the expected version."""
    task = session.get(Task, task_id, with_for_update=True)
    if task is None or (change.visible_team is not None and task.team != change.visible_team):
        raise TaskNotFoundError(task_id)
    if change.expected_version is not None and change.expected_version != task.version:
        raise VersionConflictError(task_id, task.state, task.version, change.expected_version)
    return task


def _target(action: Action, task: Task, change: Change) -> str:
    """The state the action leads to from the task's; 409 if not allowed, 422 without message."""
    target = target_state(action, task.state)
    if target is None:
        allowed = sorted(action.allowed_from, key=STATES.index)
        raise InvalidTransitionError(task.task_id, task.state, action.name, allowed)
    if action.needs_message and not change.message:
        raise BadActionError("body.message", f"{action.name} needs a message")
    return target


def _claim(
    session: Session, task: Task, target: str, values: dict[str, Any], now: datetime
) -> None:
    """Write the change if no one changed the task since it was read (else a conflict)."""
    claim = (
        sa.update(Task)
        .where(Task.task_id == task.task_id, Task.version == task.version)
        .values(state=target, version=task.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    claimed = cast(sa.CursorResult[Any], session.execute(claim))
    if claimed.rowcount != 1:  # changed in between (SQLite has no FOR UPDATE)
        session.refresh(task)
        raise VersionConflictError(task.task_id, task.state, task.version, task.version)
    session.refresh(task)


def _event_count(session: Session, *where: sa.ColumnElement[bool]) -> int:
    query = sa.select(sa.func.count()).select_from(TaskEvent).where(*where)
    return int(session.scalar(query) or 0)


def _next_seq(session: Session, task_id: str) -> int:
    """The timeline position of the change: one after the task's last entry."""
    return 1 + _event_count(session, TaskEvent.task_id == task_id)


def _events(
    session: Session,
    task: Task,
    action: Action,
    change: Change,
    target: str,
    now: datetime,
    seq: int,
) -> list[CloudEvent]:
    """What to publish: the lifecycle event, after the answer itself when resolving."""
    ids = [derived_id(action.event_type, task.task_id, str(seq))]
    types = [action.event_type]
    if action.name == "resolve":
        ids.insert(0, _feedback_id(session, task.task_id, seq))
        types.insert(0, TASK_FEEDBACK)
    return [
        lifecycle_event(
            task, type_=type_, status=target, message=change.message, at=now, event_id=event_id
        )
        for type_, event_id in zip(types, ids, strict=True)
    ]


def _feedback_id(session: Session, task_id: str, seq: int) -> str:
    """The answer's id: the task's own for the first answer, one per answer after a reopen."""
    answered_before = _event_count(
        session, TaskEvent.task_id == task_id, TaskEvent.to_state == RESOLVED
    )
    if not answered_before:
        return derived_id(TASK_FEEDBACK, task_id)
    return derived_id(TASK_FEEDBACK, task_id, str(seq))


def _timeline_entry(
    task: Task,
    action: Action,
    change: Change,
    before: _Before,
    target: str,
    now: datetime,
    seq: int,
) -> TaskEvent:
    return TaskEvent(
        task_id=task.task_id,
        seq=seq,
        event_id=derived_id(action.event_type, task.task_id, str(seq)),
        type=action.event_type,
        at=now,
        actor=change.actor[:128],
        from_state=before.state,
        to_state=target,
        team=before.team if action.name != "reassign" else task.team,
        message=change.message or None,
    )


def _publish(
    publisher: FeedbackPublisher, events: list[CloudEvent], key: str, metrics: ApiMetrics | None
) -> None:
    """Publish every event, counting a broker that did not acknowledge (then re-raising)."""
    try:
        for event in events:
            publisher.publish(event, key=key)
    except FeedbackUnavailableError:
        if metrics is not None:
            metrics.feedback_failures.inc()
        raise


def _values_for(action: str, task: Task, change: Change, now: datetime) -> dict[str, Any]:
    if action == "acknowledge" or (action == "start" and task.acknowledged_at is None):
        return {"acknowledged_at": now}
    if action == "resolve":
        latency = max(0.0, (now - task.raised_at).total_seconds())
        answer = {"resolution": change.message, "resolved_at": now, "feedback_latency_s": latency}
        return {**answer, "answered_by": "team"}
    if action == "reject":
        return {"resolution": change.message, "resolved_at": now}
    if action == "reopen":
        return {
            "resolution": None,
            "resolved_at": None,
            "feedback_latency_s": None,
            "feedback_delivered_at": None,
            "answered_by": None,
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


# --- the router's own answers to rush orders ---------------------------------------------


def owe_order_answer(
    conn: sa.Connection, routed: TaskRouted, *, default_locale: str, now: datetime
) -> list[str]:
    """Owe the rep the router's answer to a rush order, as people's answers are owed.

    An answer (units held, or why it cannot be checked) closes the request; planning work
    is an interim answer (the earliest possible date and the planning task with its SLA),
    and the planner's resolution is owed later like any other. The text is in the
    asker's language (``capacity_answers``); the callback path signs, retries and logs it.
    """
    locale = locale_of(routed, default_locale)
    text = order_answer(routed, locale)
    if text is None:
        return []
    with Session(bind=conn, expire_on_commit=False) as session:
        task = session.get(Task, routed.task_id)
        if task is None:
            return []
        interim = routed.planning is not None
        scheduled = schedule_delivery(
            session,
            task,
            event_id=derived_id(ORDER_ANSWER, routed.task_id),
            state=task.state,
            message=text,
            now=now,
            event_type=TASK_ROUTED if interim else TASK_FEEDBACK,
            public=True,
        )
        session.flush()
    return scheduled
