from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from schemas.events import TaskFeedback, derived_id
from services.api.db import TASKS
from services.api.errors import FeedbackUnavailableError, TaskNotFoundError, TaskNotOpenError
from services.api.feedback import FEEDBACK_SOURCE, resolve_task
from services.api.metrics import ApiMetrics


def stored(engine: sa.Engine, task_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(TASKS).where(TASKS.c.task_id == task_id)).mappings().one()
    return dict(row)


def test_resolving_sets_the_answer_and_publishes_feedback_keyed_by_account(
    engine: sa.Engine, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-1")  # raised 10 minutes before the clock's now
    clock.advance(5)
    task = resolve_task(engine, task_id, "直しました。", publisher=publisher, clock=clock)

    assert task.state == "resolved"
    assert task.resolution == "直しました。"
    assert task.resolved_at == clock.now
    assert task.feedback_latency_s == pytest.approx(605.0)
    assert task.version == 2
    assert stored(engine, task_id)["state"] == "resolved"

    [(key, event), (_, resolved)] = publisher.sent
    assert key == "example.co.jp"
    assert resolved.type == "task.resolved"
    assert event.id == derived_id("task.feedback", task_id)
    assert event.type == "task.feedback"
    assert event.source == FEEDBACK_SOURCE
    assert event.subject == task_id
    feedback = TaskFeedback.model_validate(event.data)
    assert feedback.task_id == task_id
    assert feedback.source_event_id == "zd-1"
    assert feedback.source == "/zendesk/acme"
    assert feedback.team == "billing-ui"
    assert feedback.message == "直しました。"
    assert feedback.answered_at == clock.now
    assert feedback.answered_at - feedback.raised_at == timedelta(seconds=605)


def test_a_broker_failure_changes_nothing(
    engine: sa.Engine, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-2")
    before = stored(engine, task_id)
    publisher.down = True
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    with pytest.raises(FeedbackUnavailableError):
        resolve_task(engine, task_id, "done", publisher=publisher, clock=clock, metrics=metrics)
    assert stored(engine, task_id) == before
    assert registry.get_sample_value("handoff_api_feedback_failures_total") == 1

    publisher.down = False  # the retry goes through
    assert (
        resolve_task(engine, task_id, "done", publisher=publisher, clock=clock).state == "resolved"
    )


def test_only_an_open_task_can_be_resolved(
    engine: sa.Engine, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-3")
    resolve_task(engine, task_id, "first", publisher=publisher, clock=clock)
    with pytest.raises(TaskNotOpenError) as caught:
        resolve_task(engine, task_id, "second", publisher=publisher, clock=clock)
    assert caught.value.state == "resolved"
    assert "resolved, not open" in str(caught.value)
    assert len(publisher.sent) == 2  # the first answer and its task.resolved; nothing more
    assert stored(engine, task_id)["resolution"] == "first"


def test_an_unknown_task_is_not_found(engine: sa.Engine, publisher: Any, clock: Any) -> None:
    with pytest.raises(TaskNotFoundError, match="'nope' not found"):
        resolve_task(engine, "nope", "x", publisher=publisher, clock=clock)
    assert publisher.sent == []


def test_an_answer_before_the_raise_counts_as_zero_latency(
    engine: sa.Engine, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-4")
    clock.advance(-3600)  # a clock behind the origin's
    task = resolve_task(engine, task_id, "x", publisher=publisher, clock=clock)
    assert task.feedback_latency_s == 0.0


def test_resolving_records_metrics_per_team(
    engine: sa.Engine, add_task: Any, publisher: Any, clock: Any
) -> None:
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    resolve_task(engine, add_task("zd-5"), "x", publisher=publisher, clock=clock, metrics=metrics)
    labels = {"team": "billing-ui"}
    assert registry.get_sample_value("handoff_api_tasks_resolved_total", labels) == 1
    assert registry.get_sample_value("handoff_api_feedback_latency_seconds_count", labels) == 1
    assert registry.get_sample_value("handoff_api_feedback_latency_seconds_sum", labels) == 600
