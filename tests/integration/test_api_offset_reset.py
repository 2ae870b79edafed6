"""``HANDOFF_API_OFFSET_RESET``: where a new projector group starts, on the real broker.

``earliest`` (the default) projects every task still on ``handoff.routed``: a new API
deployment rebuilds its database from the topics. ``latest`` projects only what is routed
once the API is up -- exactly from then on: the topics' end offsets are read before the
API serves and each partition the group never committed starts there, so an event
produced right after ``/healthz`` answers is not skipped (Kafka applies a ``latest``
reset policy only at the consumer's first fetch, later), and a backlog longer than one
poll is skipped whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from schemas import topics
from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.kafka_admin import ensure_handoff_topics
from tests.processes import platform_env, spawn, stop, wait_for, wait_healthy

BACKLOG = 250


def routed(run: str, n: int) -> tuple[bytes, str]:
    """A ``task.routed`` as the router publishes it; its bytes and task id."""
    source_event_id, raised = f"zd-offsets-{run}-{n}", datetime.now(UTC) - timedelta(minutes=5)
    data = TaskRouted(
        task_id=derived_id("task", source_event_id), source_event_id=source_event_id,
        source="/sources/support", team="billing", rule="component:invoices",
        account="example.co.jp", priority="high", component="invoices",  # type: ignore[arg-type]
        subject="請求書の画面が分かりにくい", description="", requester_email="taro@example.co.jp",
        raised_at=raised, routed_at=raised + timedelta(seconds=1),
        sla_due=raised + timedelta(hours=4),
    )  # fmt: skip
    event = envelope(
        type_=TASK_ROUTED, source="/handoff/router", data=data, time=data.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )  # fmt: skip
    return event.to_bytes(), data.task_id


def publish(bootstrap: str, *values: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = [producer.send(topics.ROUTED, key=b"example.co.jp", value=v) for v in values]
        for future in sent:
            future.get(timeout=30)
    finally:
        producer.close()


def projected(url: str, task_id: str) -> bool:
    return httpx.get(f"{url}/v1/tasks/{task_id}", timeout=10).status_code == 200


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_a_new_projector_starts_where_the_setting_says(
    kafka_bootstrap: str, tmp_path: Path, reset: str
) -> None:
    ensure_handoff_topics(kafka_bootstrap, ["billing"], 4)
    run = uuid.uuid4().hex[:8]
    # more than one poll's worth (max_poll_records 200) before the start, on one partition
    backlog = [routed(run, n) for n in range(1, BACKLOG + 1)]
    after, new_task = routed(run, 0)
    publish(kafka_bootstrap, *(value for value, _ in backlog))
    env = platform_env(kafka_bootstrap, f"sqlite:///{tmp_path / 'handoff.db'}", tmp_path)
    env["HANDOFF_API_OFFSET_RESET"] = reset
    url = f"http://127.0.0.1:{env['HANDOFF_API_PORT']}"
    api = spawn("api", url, env, tmp_path)
    try:
        wait_healthy(api)
        publish(kafka_bootstrap, after)  # right after it answers: never skipped
        wait_for("the task routed after the start", lambda: projected(url, new_task))
        for _, old_task in (backlog[0], backlog[-1]):
            assert projected(url, old_task) is (reset == "earliest"), api.tail()
    finally:
        stop(api.proc)
