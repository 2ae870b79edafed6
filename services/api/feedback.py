"""Resolving a task: the answer goes back to whoever asked, as a ``task.feedback`` event.

The database change and the event are tied together: the task is updated in
a transaction that commits only after the broker acknowledged the event
(``acks=all``). If the broker does not answer, the transaction is rolled back
and the caller is told to retry (503). The event id is derived from the task
id, so a retry after an ambiguous failure is deduplicated downstream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schemas import topics
from schemas.events import TASK_FEEDBACK, CloudEvent, TaskFeedback, derived_id, envelope
from services.api.clock import Clock
from services.api.db import OPEN, RESOLVED, Task
from services.api.errors import FeedbackUnavailableError, TaskNotFoundError, TaskNotOpenError
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


def feedback_event(task: Task, *, message: str, answered_at: datetime) -> CloudEvent:
    """The ``task.feedback`` event answering ``task``."""
    data = TaskFeedback(
        task_id=task.task_id,
        source_event_id=task.source_event_id,
        source=task.source,
        team=task.team,
        message=message,
        raised_at=task.raised_at,
        answered_at=answered_at,
    )
    return envelope(
        type_=TASK_FEEDBACK,
        source=FEEDBACK_SOURCE,
        data=data,
        time=data.answered_at,
        event_id=derived_id(TASK_FEEDBACK, task.task_id),
        subject=task.task_id,
    )


def resolve_task(
    engine: sa.Engine,
    task_id: str,
    message: str,
    *,
    publisher: FeedbackPublisher,
    clock: Clock,
    metrics: ApiMetrics | None = None,
) -> Task:
    """Resolve an open task and publish its feedback, all or nothing; the resolved task.

    Raises :class:`TaskNotFoundError`, :class:`TaskNotOpenError` (naming the
    current state) or :class:`FeedbackUnavailableError` (nothing changed).
    """
    with Session(engine, expire_on_commit=False) as session, session.begin():
        task = session.get(Task, task_id, with_for_update=True)  # FOR UPDATE: PostgreSQL only
        if task is None:
            raise TaskNotFoundError(task_id)
        if task.state != OPEN:
            raise TaskNotOpenError(task_id, task.state)
        answered_at = clock()
        latency = max(0.0, (answered_at - task.raised_at).total_seconds())
        claim = (
            sa.update(Task)
            .where(Task.task_id == task_id, Task.state == OPEN, Task.version == task.version)
            .values(
                state=RESOLVED,
                resolution=message,
                resolved_at=answered_at,
                feedback_latency_s=latency,
                version=task.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = cast(sa.CursorResult[Any], session.execute(claim))
        if claimed.rowcount != 1:  # someone else resolved it in between (SQLite has no FOR UPDATE)
            session.refresh(task)
            raise TaskNotOpenError(task_id, task.state)
        event = feedback_event(task, message=message, answered_at=answered_at)
        try:
            publisher.publish(event, key=task.account)
        except FeedbackUnavailableError:
            if metrics is not None:
                metrics.feedback_failures.inc()
            raise
        session.refresh(task)
    if metrics is not None:
        metrics.tasks_resolved.labels(team=task.team).inc()
        metrics.feedback_latency.labels(team=task.team).observe(latency)
    return task
