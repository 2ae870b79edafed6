"""``handoff tracker apply``: tracker webhooks (``handoff.tracker``) become task lifecycle
changes -- the engineer closes the issue, every asker gets the answer.

Each change goes through the API's own lifecycle (``feedback.change_task``: the
row, the timeline and the callbacks owed to the origins, committed only after
Kafka took the event), once per event id. A change the task's state already
reflects (a second close) is skipped; an unknown task is parked in the
dead-letter topic with the reason; an unavailable broker is retried, the
offset committed only after the change was made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from sqlalchemy.orm import Session

from schemas import topics
from schemas.trackers import TRACKER_CHANGED, TrackerChange
from services.api.errors import (
    BadActionError,
    FeedbackUnavailableError,
    InvalidEventError,
    InvalidTransitionError,
    TaskNotFoundError,
)
from services.api.feedback import Change, FeedbackPublisher, change_task
from services.api.models.trackers import TrackerChangeApplied
from services.api.producer import AckedProducer
from services.api.projection import dead_letter, decode_event
from services.kafka_group import group_consumer

log = logging.getLogger(__name__)
GROUP = "handoff-tracker-apply"
DEFAULT_ANSWER = {
    "resolve": "Resolved in {tracker} ({issue})",
    "reject": "Closed as not planned in {tracker} ({issue})",
}
ACTIONS = {
    "resolve": "resolve",
    "reject": "reject",
    "reopen": "reopen",
    "comment": "comment",
    "note": "comment",
}


@dataclass
class Applier:
    engine: sa.Engine
    publisher: FeedbackPublisher
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def apply(self, event_id: str, change: TrackerChange) -> str:
        """What became of the change: applied, duplicate, or skipped (the state has it)."""
        if self._applied(event_id):
            return "duplicate"
        message = change.message or self._answer(change)
        try:
            change_task(
                self.engine,
                change.task_id,
                self._change(change, message),
                publisher=self.publisher,
                clock=self.clock,
            )
            outcome = "applied"
        except InvalidTransitionError as exc:
            log.info("tracker change %s skipped: %s", event_id, exc)
            outcome = "skipped"
        self._record(event_id, change, message)
        return outcome

    def _change(self, change: TrackerChange, message: str) -> Change:
        public = {"comment": True, "note": False}.get(change.action)
        actor = change.actor or f"{change.tracker}:{change.issue}"
        return Change(ACTIONS[change.action], message=message, actor=actor, public=public)

    def _answer(self, change: TrackerChange) -> str:
        """No words with the close: the last comment kept from the tracker, else a default."""
        if change.action not in DEFAULT_ANSWER:
            return change.message or f"{change.tracker} {change.issue}"
        last = (
            sa.select(TrackerChangeApplied.message)
            .where(
                TrackerChangeApplied.task_id == change.task_id,
                TrackerChangeApplied.action.in_(("note", "comment")),
            )
            .order_by(TrackerChangeApplied.applied_at.desc())
            .limit(1)
        )
        with Session(self.engine) as session:
            found = session.execute(last).scalar_one_or_none()
        return found or DEFAULT_ANSWER[change.action].format(
            tracker=change.tracker, issue=change.issue
        )

    def _applied(self, event_id: str) -> bool:
        with Session(self.engine) as session:
            return session.get(TrackerChangeApplied, event_id) is not None

    def _record(self, event_id: str, change: TrackerChange, message: str) -> None:
        row = TrackerChangeApplied(
            event_id=event_id, task_id=change.task_id, action=change.action, message=message,
            applied_at=self.clock(),
        )  # fmt: skip
        with Session(self.engine) as session, session.begin():
            session.merge(row)


def parse_change(value: bytes | None) -> tuple[str, TrackerChange]:
    event = decode_event(value)
    if event.type != TRACKER_CHANGED:
        raise InvalidEventError(
            f"event type {event.type!r} is not {TRACKER_CHANGED!r}", "UnexpectedEventType"
        )
    try:
        return event.id, TrackerChange.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {TRACKER_CHANGED}: {exc.error_count()} errors", "InvalidTrackerChange"
        ) from exc


@dataclass(frozen=True)
class ApplyConfig:
    bootstrap: str
    group_id: str = GROUP
    idle_exit_s: float | None = None
    retry_s: float = 2.0


def run_applier(config: ApplyConfig, applier: Applier) -> int:
    """Consume ``handoff.tracker`` into ``applier``; the number of messages handled."""
    consumer = group_consumer(
        [topics.TRACKER], bootstrap=config.bootstrap, group_id=config.group_id,
        session_timeout_ms=6000, heartbeat_interval_ms=2000,
    )  # fmt: skip
    dlq = AckedProducer(config.bootstrap, client_id="handoff-tracker-apply-dlq")
    try:
        return _loop(consumer, config, applier, dlq)
    finally:
        consumer.close(autocommit=False)
        dlq.close()


def _loop(
    consumer: KafkaConsumer, config: ApplyConfig, applier: Applier, dlq: AckedProducer
) -> int:
    handled, last_seen = 0, time.monotonic()
    while config.idle_exit_s is None or time.monotonic() - last_seen <= config.idle_exit_s:
        batch = consumer.poll(timeout_ms=500, max_records=1)
        if not consumer.assignment():  # still joining the group: not idle yet
            last_seen = time.monotonic()
        for tp, records in batch.items():
            for record in records:
                _handle(record, applier, dlq, config.retry_s)
                consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
                handled, last_seen = handled + 1, time.monotonic()
    return handled


def _handle(record: Any, applier: Applier, dlq: AckedProducer, retry_s: float) -> None:
    while True:
        try:
            event_id, change = parse_change(record.value)
            applier.apply(event_id, change)
            return
        except FeedbackUnavailableError as exc:
            log.warning("the broker did not take the change (%s); retrying in %.0f s", exc, retry_s)
            time.sleep(retry_s)
        except InvalidEventError as exc:
            _park(record, dlq, exc.reason, exc.error_type)
            return
        except (TaskNotFoundError, BadActionError) as exc:
            _park(record, dlq, f"{type(exc).__name__}: {exc}", "TrackerChangeRefused")
            return


def _park(record: Any, dlq: AckedProducer, reason: str, error_type: str) -> None:
    value = dead_letter(
        record, reason=reason, error_type=error_type, at=datetime.now(UTC), service="tracker-apply"
    )
    dlq.send(topics.DLQ, key=record.key, value=value)
