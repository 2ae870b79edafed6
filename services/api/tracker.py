"""Team trackers: consume ``handoff.team.<team>`` and print or forward each task.

Forwarding posts a GitHub-issues-like JSON body to a tracker webhook; the
offset is committed only after the tracker answered 2xx (retried with
backoff until it does). What can never be read goes to the dead-letter topic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from schemas import topics
from schemas.events import TASK_ROUTED, TaskRouted
from services.api.errors import InvalidEventError
from services.api.producer import AckedProducer
from services.api.projection import dead_letter, decode_event

log = logging.getLogger(__name__)


def issue_body(task: TaskRouted) -> dict[str, Any]:
    """The task as a GitHub issue would be created from it."""
    labels = ["handoff", f"priority:{task.priority.value}"]
    if task.component:
        labels.append(f"component:{task.component}")
    body = (
        f"{task.description}\n\n---\nRequested by {task.requester_email} ({task.account}) "
        f"via {task.source}.\nRouted by rule `{task.rule}`; due {task.sla_due.isoformat()}.\n"
        f"handoff task: {task.task_id}"
    )
    return {
        "title": task.subject,
        "body": body,
        "labels": labels,
        "external_id": task.task_id,
        "due_on": task.sla_due.isoformat(),
    }


def parse_task(value: bytes | None) -> TaskRouted:
    event = decode_event(value)
    if event.type != TASK_ROUTED:
        raise InvalidEventError(
            f"event type {event.type!r} is not {TASK_ROUTED!r}", "UnexpectedEventType"
        )
    try:
        return TaskRouted.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {TASK_ROUTED}: {exc.error_count()} errors", "InvalidTaskRouted"
        ) from exc


Sink = Callable[[dict[str, Any]], None]


class TrackerRejectedError(Exception):
    """The tracker did not answer 2xx; the message is kept and retried."""


def webhook_sink(url: str, timeout_s: float = 10.0) -> Sink:
    def send(issue: dict[str, Any]) -> None:
        try:
            response = httpx.post(url, json=issue, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise TrackerRejectedError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise TrackerRejectedError(f"HTTP {response.status_code}")

    return send


def print_sink(issue: dict[str, Any]) -> None:
    print(json.dumps(issue, ensure_ascii=False), flush=True)


@dataclass(frozen=True)
class TrackerConfig:
    bootstrap: str
    team: str
    group_id: str
    idle_exit_s: float | None = None  # stop after this long without messages (tests, cron)
    max_messages: int | None = None
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


def consume(config: TrackerConfig, sink: Sink) -> int:
    """Consume the team's topic into ``sink``; the number of tasks handed over."""
    consumer = KafkaConsumer(
        topics.team_topic(config.team),
        bootstrap_servers=config.bootstrap,
        group_id=config.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    dlq = AckedProducer(config.bootstrap, client_id="handoff-tracker-dlq")
    handed = 0
    last_seen = time.monotonic()
    try:
        while config.max_messages is None or handed < config.max_messages:
            batch = consumer.poll(timeout_ms=500, max_records=1)
            if not batch:
                if (
                    config.idle_exit_s is not None
                    and time.monotonic() - last_seen > config.idle_exit_s
                ):
                    break
                continue
            last_seen = time.monotonic()
            for tp, records in batch.items():
                for record in records:
                    _deliver(record, sink, dlq, config)
                    consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
                    handed += 1
    finally:
        consumer.close(autocommit=False)
        dlq.close()
    return handed


def _deliver(record: Any, sink: Sink, dlq: AckedProducer, config: TrackerConfig) -> None:
    try:
        issue = issue_body(parse_task(record.value))
    except InvalidEventError as exc:
        value = dead_letter(
            record,
            reason=exc.reason,
            error_type=exc.error_type,
            at=datetime.now(UTC),
            service="tracker",
        )
        dlq.send(topics.DLQ, key=record.key, value=value)
        return
    delay = config.backoff_initial_s
    while True:
        try:
            sink(issue)
            return
        except TrackerRejectedError as exc:
            log.warning(
                "the tracker refused task %s (%s); retrying in %.1f s",
                issue["external_id"],
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(config.backoff_max_s, delay * 2)


__all__ = ["TopicPartition", "TrackerConfig", "consume", "issue_body", "print_sink", "webhook_sink"]
