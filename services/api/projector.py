"""Kafka -> database: project ``task.routed`` events into the ``tasks`` table.

The router also passes on ``support.ticket_updated`` (a comment or a priority
change on a ticket already routed): those are kept in ``origin_updates`` by
the ticket's event id and show on every task the ticket is in.

Per message: decode and validate (pure: :func:`task_row`), insert if absent,
commit the database transaction; per batch, THEN commit the Kafka offsets.
What can never be projected goes to the dead-letter topic with the reason.
When the database (or the dead-letter topic) is down nothing is committed:
the consumer seeks back to the first unfinished message and retries with
backoff, so the message is kept.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import sqlalchemy as sa
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import (
    SUPPORT_TICKET_UPDATED,
    TASK_RESOLVED,
    TASK_ROUTED,
    CloudEvent,
    TaskRouted,
    TicketUpdated,
    derived_id,
)
from services.api.clock import Clock, utc_now
from services.api.db import (
    OPEN,
    ORIGIN_UPDATES,
    ORIGINS,
    RESOLVED,
    TASK_EVENTS,
    TASK_ID_RE,
    TASKS,
    insert_origin_if_absent,
    insert_origin_update_if_absent,
    insert_task_if_absent,
    string_limits,
)
from services.api.errors import InvalidEventError
from services.api.lifecycle import ACTIVE, department_of
from services.api.metrics import ApiMetrics
from services.api.producer import AckedProducer, PublishError
from services.core.errors import HandoffError

log = logging.getLogger(__name__)

SERVICE: Final = "api"
INSERTED: Final = "inserted"
DUPLICATE: Final = "duplicate"
DEAD_LETTERED: Final = "dead_lettered"
GROUPED: Final = "grouped"  # another event joined a stored task: its group grew
REASSIGNED: Final = "reassigned"  # the router re-routed a handed-over task: its new deadlines
REOPENED: Final = "reopened"  # the router routed a reopened task again: its fresh deadlines
UPDATED: Final = "updated"  # the asker changed a request already routed (support.ticket_updated)


class ConsumedRecord(Protocol):
    """What the projector reads from a Kafka record (kafka-python's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class DeadLetters(Protocol):
    """Where unprojectable messages go; ``send`` returns once they are safely stored."""

    def send(self, key: bytes | None, value: bytes) -> None: ...

    def close(self) -> None: ...


class RetryLaterError(HandoffError):
    """A part we depend on (database, dead-letter topic) failed: keep the message, retry."""

    def __init__(self, part: str, cause: BaseException) -> None:
        super().__init__(f"{part} unavailable: {cause}")
        self.part = part


# --- pure: bytes -> event -> row -------------------------------------------------------------


def _validation_summary(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_event(value: bytes | None) -> CloudEvent:
    """The CloudEvent in a message value, or :class:`InvalidEventError` saying why not."""
    if value is None:
        raise InvalidEventError("message has no value", "EmptyMessage")
    try:
        return CloudEvent.from_bytes(value)
    except ValidationError as exc:
        raise InvalidEventError(
            f"not a CloudEvent: {_validation_summary(exc)}", "InvalidCloudEvent"
        ) from exc


def task_row(event: CloudEvent, *, projected_at: datetime) -> dict[str, Any]:
    """The ``tasks`` row for a ``task.routed`` event, or :class:`InvalidEventError` why not."""
    if event.type != TASK_ROUTED:
        raise InvalidEventError(
            f"event type {event.type!r} is not {TASK_ROUTED!r}", "UnexpectedEventType"
        )
    try:
        routed = TaskRouted.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {TASK_ROUTED} data: {_validation_summary(exc)}", "InvalidTaskRouted"
        ) from exc
    row: dict[str, Any] = {
        "task_id": routed.task_id,
        "source_event_id": routed.source_event_id,
        "source": routed.source,
        "team": routed.team,
        "rule": routed.rule,
        "account": routed.account,
        "priority": routed.priority.value,
        "component": routed.component,
        "subject": routed.subject,
        "description": routed.description,
        "requester_email": routed.requester_email,
        "state": OPEN,
        "raised_at": _utc(routed.raised_at, "raised_at"),
        "routed_at": _utc(routed.routed_at, "routed_at"),
        "sla_due": _utc(routed.sla_due, "sla_due"),
        "projected_at": _utc(projected_at, "projected_at"),
        "resolved_at": None,
        "resolution": None,
        "feedback_latency_s": None,
        "version": 1,
        "department": (routed.department or department_of(routed.source))[:64],
        "updated_at": _utc(projected_at, "projected_at"),
        "acknowledged_at": None,
        "feedback_delivered_at": None,
        "acknowledge_by": _utc(routed.acknowledge_by, "acknowledge_by")
        if routed.acknowledge_by
        else None,
        "event_count": routed.event_count,
        "event_ids": json.dumps(routed.event_ids or [routed.source_event_id]),
        "summary": routed.summary,
    }
    if routed.answered_at is not None:  # answered by the router itself: resolved already
        answered = _utc(routed.answered_at, "answered_at")
        row.update(
            state=RESOLVED,
            acknowledged_at=answered,
            resolved_at=answered,
            resolution=routed.answer,
            feedback_latency_s=max(0.0, (answered - row["raised_at"]).total_seconds()),
            updated_at=answered,
        )
    _check_storable(row)
    return row


def grow_group(conn: sa.Connection, row: Mapping[str, Any]) -> bool:
    """A later ``task.routed`` of a stored task with more grouped events: keep the larger group."""
    grown = conn.execute(
        sa.update(TASKS)
        .where(TASKS.c.task_id == row["task_id"], TASKS.c.event_count < row["event_count"])
        .values(event_count=row["event_count"], event_ids=row["event_ids"], summary=row["summary"])
    )
    return bool(grown.rowcount)


def update_row(event: CloudEvent, *, projected_at: datetime) -> dict[str, Any]:
    """The ``origin_updates`` row of a ``support.ticket_updated`` event, or why not."""
    try:
        update = TicketUpdated.model_validate(event.data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"invalid {SUPPORT_TICKET_UPDATED} data: {_validation_summary(exc)}",
            "InvalidTicketUpdated",
        ) from exc
    row: dict[str, Any] = {
        "event_id": event.id,
        "origin_event_id": update.ticket_event_id,
        "source": event.source,
        "ref": update.ticket_id,
        "change": update.change.value,
        "comment": update.comment,
        "public": update.comment_public,
        "priority": update.priority.value if update.priority else None,
        "previous_priority": update.previous_priority.value if update.previous_priority else None,
        "status": update.status,
        "previous_status": update.previous_status,
        "requester_email": update.requester_email,
        "at": _utc(update.updated_at, "updated_at"),
        "projected_at": _utc(projected_at, "projected_at"),
    }
    _check_strings(row, string_limits(ORIGIN_UPDATES), "InvalidTicketUpdated")
    return row


def touch_tasks_of(conn: sa.Connection, origin_event_id: str, at: datetime) -> int:
    """Mark every task the request is in as changed at ``at``; how many there are."""
    of_origin = sa.select(ORIGINS.c.task_id).where(ORIGINS.c.event_id == origin_event_id)
    touched = conn.execute(
        sa.update(TASKS)
        .where(sa.or_(TASKS.c.task_id.in_(of_origin), TASKS.c.source_event_id == origin_event_id))
        .values(updated_at=at)
    )
    return int(touched.rowcount)


def answered_entry(event: CloudEvent, row: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline entry of a task the router answered itself."""
    return {
        "task_id": row["task_id"],
        "seq": 1,
        "event_id": derived_id(TASK_RESOLVED, row["task_id"], "router"),
        "type": TASK_RESOLVED,
        "at": row["resolved_at"],
        "actor": "router",
        "from_state": OPEN,
        "to_state": RESOLVED,
        "team": row["team"],
        "message": row["resolution"],
    }


def origin_row(event: CloudEvent, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request a ``task.routed`` routes, as a ``task_origins`` row (None: an older router)."""
    event_id = event.data.get("origin_event_id")
    if not isinstance(event_id, str) or not event_id:
        return None
    ref = event.data.get("origin_ref")
    return {
        "task_id": row["task_id"],
        "event_id": event_id[:256],
        "source": row["source"],
        "ref": str(ref)[:128] if ref else None,
        "requester_email": row["requester_email"],
        "raised_at": row["raised_at"],
    }


def follow_reroute(conn: sa.Connection, row: Mapping[str, Any]) -> bool:
    """The router's ``task.routed`` after a reassignment or a reopen: the deadlines from then.

    Only while the task is still with that team and open: a later handover
    (or a close) wins over a late event.
    """
    moved = conn.execute(
        sa.update(TASKS)
        .where(
            TASKS.c.task_id == row["task_id"],
            TASKS.c.team == row["team"],
            TASKS.c.state.in_(sorted(ACTIVE)),
        )
        .values(sla_due=row["sla_due"], acknowledge_by=row["acknowledge_by"])
    )
    return bool(moved.rowcount)


def _utc(value: datetime, field: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidEventError(f"data.{field}: out of range in UTC", "InvalidTaskRouted") from exc


def _check_storable(row: Mapping[str, Any]) -> None:
    """Refuse what the database would refuse, so it is dead-lettered rather than retried."""
    if not TASK_ID_RE.fullmatch(row["task_id"]):
        raise InvalidEventError(
            "data.task_id: must be 1-128 letters, digits, '.', '_', ':' or '-'", "InvalidTaskRouted"
        )
    if not topics.is_valid_team(row["team"]):
        raise InvalidEventError(
            f"data.team: {row['team']!r} is not a team name "
            "(lowercase letters, digits and '-', at most 63)",
            "InvalidTaskRouted",
        )
    _check_strings(row, string_limits(), "InvalidTaskRouted")


def _check_strings(row: Mapping[str, Any], limits: Mapping[str, int], error_type: str) -> None:
    for name, limit in limits.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidEventError(f"data.{name}: longer than {limit} characters", error_type)
    for name, value in row.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise InvalidEventError(f"data.{name}: contains a NUL character", error_type)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEventError(
                f"data.{name}: not valid Unicode (lone surrogate)", error_type
            ) from None


def dead_letter(
    record: ConsumedRecord, *, reason: str, error_type: str, at: datetime, service: str = SERVICE
) -> bytes:
    """The dead letter (``schemas.dlq.DeadLetter``) for ``record``: reason, origin, bytes."""
    return DeadLetter.from_raw(
        reason=reason,
        error_type=error_type,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        service=service,
        at=at,
    ).to_bytes()


# --- adapters -------------------------------------------------------------------------------


class KafkaDeadLetters:
    """Dead letters on ``schemas.topics.DLQ``, acknowledged by the broker."""

    def __init__(self, bootstrap: str, *, ack_timeout_s: float = 10.0) -> None:
        self._producer = AckedProducer(
            bootstrap, client_id="handoff-api-dlq", ack_timeout_s=ack_timeout_s
        )

    def send(self, key: bytes | None, value: bytes) -> None:
        self._producer.send(topics.DLQ, key=key, value=value)

    def close(self) -> None:
        self._producer.close()


@dataclass(frozen=True)
class ProjectorConfig:
    bootstrap: str
    group_id: str
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 2000
    poll_timeout_ms: int = 250
    max_poll_records: int = 200
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    client_id: str = "handoff-api-projector"


ConsumerFactory = Callable[[ProjectorConfig], KafkaConsumer]


def kafka_consumer(config: ProjectorConfig) -> KafkaConsumer:
    return KafkaConsumer(
        topics.ROUTED,
        bootstrap_servers=config.bootstrap,
        group_id=config.group_id,
        client_id=config.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=config.heartbeat_interval_ms,
        max_poll_records=config.max_poll_records,
        bootstrap_timeout_ms=max(2000, config.session_timeout_ms),
    )


class Projector:
    """Consumes ``handoff.routed`` on a background thread; ``stop()`` ends it cleanly."""

    def __init__(
        self,
        engine: sa.Engine,
        config: ProjectorConfig,
        *,
        metrics: ApiMetrics,
        dead_letters: DeadLetters,
        clock: Clock = utc_now,
        consumer_factory: ConsumerFactory = kafka_consumer,
    ) -> None:
        self._engine = engine
        self._config = config
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._clock = clock
        self._consumer_factory = consumer_factory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed: collections.Counter[str] = collections.Counter()
        self.retries: collections.Counter[str] = collections.Counter()

    # one message

    def handle(self, record: ConsumedRecord) -> str:
        """Project one record; the outcome, or :class:`RetryLaterError` to keep it for later."""
        try:
            event = decode_event(record.value)
            if event.type == SUPPORT_TICKET_UPDATED:
                return self._record_update(record, update_row(event, projected_at=self._clock()))
            row = task_row(event, projected_at=self._clock())
        except InvalidEventError as exc:
            return self._dead_letter(record, exc.reason, exc.error_type)
        rerouted = (
            REASSIGNED
            if event.data.get("reassigned_from")
            else REOPENED
            if event.data.get("reopened_at")
            else None
        )
        origin = origin_row(event, row)
        try:
            with self._engine.begin() as conn:
                inserted = insert_task_if_absent(conn, row)
                if inserted and row["state"] == RESOLVED:
                    conn.execute(TASK_EVENTS.insert(), answered_entry(event, row))
                if origin is not None:
                    insert_origin_if_absent(conn, origin)
                if not inserted and rerouted and follow_reroute(conn, row):
                    return self._count(rerouted)
                if not inserted and grow_group(conn, row):
                    return self._count(GROUPED)
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            reason = f"the database refused the task: {str(exc.orig).strip()}"
            return self._dead_letter(record, reason, type(exc.orig).__name__)
        except sa.exc.SQLAlchemyError as exc:
            raise RetryLaterError("database", exc) from exc
        return self._count(INSERTED if inserted else DUPLICATE)

    def _record_update(self, record: ConsumedRecord, row: dict[str, Any]) -> str:
        """Kept by the request it changes, whether or not its task is stored yet (the update
        can overtake the task.routed: it skips the router's grouping)."""
        try:
            with self._engine.begin() as conn:
                if not insert_origin_update_if_absent(conn, row):
                    return self._count(DUPLICATE)
                touch_tasks_of(conn, row["origin_event_id"], row["projected_at"])
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            reason = f"the database refused the update: {str(exc.orig).strip()}"
            return self._dead_letter(record, reason, type(exc.orig).__name__)
        except sa.exc.SQLAlchemyError as exc:
            raise RetryLaterError("database", exc) from exc
        return self._count(UPDATED)

    def _dead_letter(self, record: ConsumedRecord, reason: str, error_type: str) -> str:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        value = dead_letter(record, reason=reason, error_type=error_type, at=self._clock())
        try:
            self._dead_letters.send(record.key, value)
        except PublishError as exc:
            raise RetryLaterError("dead-letter topic", exc) from exc
        return self._count(DEAD_LETTERED)

    def _count(self, outcome: str) -> str:
        self.processed[outcome] += 1
        self._metrics.tasks_projected.labels(outcome=outcome).inc()
        return outcome

    # the loop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the projector runs already")
        self._thread = threading.Thread(target=self.run, name="handoff-api-projector", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop consuming, close the Kafka clients, wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the projector thread did not stop within %.0f s", timeout)
        self._dead_letters.close()

    def run(self) -> None:
        backoff = _Backoff(self._config.backoff_initial_s, self._config.backoff_max_s)
        while not self._stop.is_set():
            try:
                consumer = self._consumer_factory(self._config)
            except KafkaError as exc:
                self._retry("broker", exc, backoff)
                continue
            try:
                self._consume(consumer, backoff)
            except Exception as exc:  # keep the thread alive: log, back off, reconnect
                log.exception("the projector's consumer failed; reconnecting")
                self._retry("broker", exc, backoff)
            finally:
                try:
                    consumer.close(autocommit=False)
                except Exception:
                    log.warning("closing the projector's consumer failed", exc_info=True)

    def _consume(self, consumer: KafkaConsumer, backoff: _Backoff) -> None:
        while not self._stop.is_set():
            batch = consumer.poll(timeout_ms=self._config.poll_timeout_ms)
            done: dict[TopicPartition, OffsetAndMetadata] = {}
            failure: RetryLaterError | None = None
            for tp, records in batch.items():
                for record in records:
                    if failure is not None or self._stop.is_set():
                        consumer.seek(tp, record.offset)  # keep it: fetched again next poll
                        break
                    try:
                        self.handle(record)
                    except RetryLaterError as exc:
                        failure = exc
                        consumer.seek(tp, record.offset)
                        break
                    done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            if done:
                self._commit(consumer, done)
            if failure is not None:
                self._retry(failure.part, failure, backoff)
            elif batch:
                backoff.reset()

    def _commit(
        self, consumer: KafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            consumer.commit(offsets)
        except KafkaError:
            # The rows are in the database; redelivery after a rebalance is harmless.
            log.warning(
                "committing offsets failed; the messages will be redelivered", exc_info=True
            )

    def _retry(self, part: str, exc: BaseException, backoff: _Backoff) -> None:
        self.retries[part] += 1
        self._metrics.projector_retries.labels(part=part).inc()
        delay = backoff.next()
        log.warning("projector: %s failed (%s); retrying in %.1f s", part, str(exc), delay)
        self._stop.wait(delay)


class _Backoff:
    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._current = initial

    def next(self) -> float:
        delay = self._current
        self._current = min(self._maximum, self._current * 2)
        return delay

    def reset(self) -> None:
        self._current = self._initial
