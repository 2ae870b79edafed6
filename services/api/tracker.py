"""Team trackers: ``handoff.team.<team>`` (with the team's SLA signals and answers) into the
team's tracker and chat -- one issue per task, then updates of it.

The offset is committed only after the tracker and chat took the event (or,
after the configured attempts, after it was parked in the dead-letter topic
with the reason). What can never be read goes to the dead-letter topic too.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from schemas import topics
from schemas.events import TaskRouted
from services.api.errors import InvalidEventError
from services.api.producer import AckedProducer
from services.api.projection import dead_letter, decode_event
from services.api.tracker_sync import TeamSync
from services.connectors.base import IssueDraft, IssueRef
from services.connectors.content import issue_draft
from services.connectors.retry import GaveUpError
from services.connectors.webhook import print_item
from services.kafka_group import group_consumer

log = logging.getLogger(__name__)


class PrintTracker:
    """No tracker configured: each item printed as a JSON line (opened, updated, commented)."""

    kind = "print"

    def create(self, draft: IssueDraft) -> IssueRef:
        _print(print_item(draft, "opened"))
        return IssueRef(draft.task_id)

    def find(self, task_id: str) -> IssueRef | None:
        return None

    def comment(self, issue: IssueRef, text: str) -> None:
        _print({"action": "commented", "external_id": issue.key, "comment": text})

    def update(self, issue: IssueRef, draft: IssueDraft) -> None:
        _print(print_item(draft, "updated"))


def _print(item: dict[str, Any]) -> None:
    print(json.dumps(item, ensure_ascii=False), flush=True)


def issue_body(task: TaskRouted, language: str = "en") -> dict[str, Any]:
    """The ``opened`` item a webhook tracker receives for ``task``."""
    return print_item(issue_draft(task, language, None), "opened")


@dataclass(frozen=True)
class TrackerConfig:
    bootstrap: str
    team: str
    group_id: str
    idle_exit_s: float | None = None  # stop after this long without messages (tests, cron)
    max_messages: int | None = None


def source_topics(team: str) -> list[str]:
    """The team's tasks, and the SLA signals and answers about them."""
    return [topics.team_topic(team), topics.SLA, topics.FEEDBACK]


def _consumer(config: TrackerConfig) -> KafkaConsumer:
    return group_consumer(
        source_topics(config.team),
        bootstrap=config.bootstrap,
        group_id=config.group_id,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )


def consume(config: TrackerConfig, sync: TeamSync) -> int:
    """Consume into ``sync``; the number of messages handled (tasks, signals, dead letters)."""
    consumer = _consumer(config)
    dlq = AckedProducer(config.bootstrap, client_id="handoff-tracker-dlq")
    try:
        return _loop(consumer, config, sync, dlq)
    finally:
        consumer.close(autocommit=False)
        dlq.close()


def _loop(
    consumer: KafkaConsumer, config: TrackerConfig, sync: TeamSync, dlq: AckedProducer
) -> int:
    handled, last_seen = 0, time.monotonic()
    while config.max_messages is None or handled < config.max_messages:
        batch = consumer.poll(timeout_ms=500, max_records=1)
        if not consumer.assignment():  # still joining the group: the idle time starts after
            last_seen = time.monotonic()
        if not batch:
            if config.idle_exit_s is not None and time.monotonic() - last_seen > config.idle_exit_s:
                break
            continue
        last_seen = time.monotonic()
        for tp, records in batch.items():
            for record in records:
                _deliver(record, sync, dlq)
                consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
                handled += 1
    return handled


def _deliver(record: Any, sync: TeamSync, dlq: AckedProducer) -> None:
    task_id = ""
    try:
        event = decode_event(record.value)
        task_id = str(event.data.get("task_id") or "")
        sync.handle(event)
    except InvalidEventError as exc:
        _park(record, dlq, exc.reason, exc.error_type)
    except ValidationError as exc:
        _park(record, dlq, f"invalid event data: {exc.error_count()} errors", "InvalidEventData")
    except GaveUpError as exc:
        log.warning(
            "tracker gave up on %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            exc.reason,
        )
        _park(record, dlq, exc.reason, "TrackerGaveUp")
        if task_id:  # after the letter: the task page shows what was parked
            sync.store.failed(task_id, exc.reason, datetime.now(UTC))


def _park(record: Any, dlq: AckedProducer, reason: str, error_type: str) -> None:
    value = dead_letter(
        record, reason=reason, error_type=error_type, at=datetime.now(UTC), service="tracker"
    )
    dlq.send(topics.DLQ, key=record.key, value=value)


__all__ = [
    "PrintTracker",
    "TrackerConfig",
    "consume",
    "issue_body",
    "source_topics",
]
