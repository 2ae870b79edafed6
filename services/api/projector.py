"""Kafka -> database: the loop that projects ``handoff.routed`` into the API's tables.

``task.routed`` events become ``tasks`` rows; the router also passes on
``support.ticket_updated`` (a comment or a priority change on a ticket already
routed), kept in ``origin_updates`` by the ticket's event id and shown on every
task the ticket is in. The rows are computed by ``services.api.projection``
(pure) and written by ``services.api.db``.

``handoff.sla`` is read too: each ``sla.at_risk`` / ``sla.breached`` owes the
teams' webhooks an alert (``services.api.team_alerts``). A signal is keyed by
the task's account like its ``task.routed``, and the range assignor gives one
process partition N of both topics; so a signal that overtook its task waits on
its own partition while ``handoff.routed`` goes on, and is parked on the
dead-letter topic only once that partition of ``handoff.routed`` is read to its
end without the task (``UnknownTask``).

A group that never committed starts at the topics' beginning; given ``start_at``
(``HANDOFF_API_OFFSET_RESET=latest``: the end offsets read before the API
served), each partition the group never committed skips what lies before it.

Per poll: decode and validate every message, write them all in one database
transaction (the figures' rollups tallied once), commit it, THEN commit the
Kafka offsets. A poll with a message that can never be projected, or a signal
whose task is not stored yet, is written one message per transaction instead,
as before: the first goes to the dead-letter topic with the reason, the second
waits. When the database (or the dead-letter topic) is down nothing is
committed: the consumer seeks back to the first unfinished message and retries
with backoff, so the message is kept.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import sqlalchemy as sa
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas import topics
from schemas.dlq import ConsumedRecord
from services.api.capacity import is_hold_release, store_release
from services.api.clock import Clock, utc_now
from services.api.consumer import (
    JoinWatch,
    Offsets,
    ProjectorConfig,
    StartAt,
    close_consumer,
    commit_offsets,
    kafka_consumer,
)
from services.api.errors import InvalidEventError
from services.api.metrics import ApiMetrics
from services.api.producer import AckedProducer, PublishError
from services.api.projection import (
    dead_letter,
    decode_event,
    is_update,
    task_row,
    update_row,
)
from services.api.projector_writes import (
    DEAD_LETTERED,
    store_alerts,
    store_task,
    store_update,
)
from services.api.rollups import tallied
from services.api.team_alerts import TaskNotProjectedError, is_sla_signal
from services.core.backoff import Backoff, BackoffPolicy
from services.core.errors import HandoffError

log = logging.getLogger(__name__)

# How long a signal waits for its task once its handoff.routed partition looks read
# to its end: the high watermark must have been fetched after the signal was.
WAIT_FOR_TASK_S: Final = 2.0


class DeadLetters(Protocol):
    """Where unprojectable messages go; ``send`` returns once they are safely stored."""

    def send(self, key: bytes | None, value: bytes) -> None: ...

    def close(self) -> None: ...


class OneByOneError(HandoffError):
    """A batch that cannot share one transaction: its records go one by one."""


class RetryLaterError(HandoffError):
    """A part we depend on (database, dead-letter topic) failed: keep the message, retry."""

    def __init__(self, part: str, cause: BaseException) -> None:
        super().__init__(f"{part} unavailable: {cause}")
        self.part = part


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


ConsumerFactory = Callable[[ProjectorConfig], KafkaConsumer]


@dataclass(frozen=True)
class Write:
    """One message's write: ``what`` it is (for a dead letter's reason), the task whose
    figures it may change (for the rollups), and the write itself."""

    what: str
    run: Callable[[sa.Connection], str]
    task_id: str | None = None

    def __call__(self, conn: sa.Connection) -> str:
        return self.run(conn)


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
        start_at: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._clock = clock
        self._consumer_factory = consumer_factory
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stalled: dict[TopicPartition, float] = {}  # signals waiting for their task
        self._start_at = StartAt(start_at or {})  # where a partition never committed starts
        self._polled_at: float | None = None  # time.monotonic() of the last successful poll
        self.processed: collections.Counter[str] = collections.Counter()
        self.retries: collections.Counter[str] = collections.Counter()

    # one message

    def handle(self, record: ConsumedRecord) -> str:
        """Project one record; the outcome, or :class:`RetryLaterError` to keep it for later."""
        try:
            write = self._write_for(record)
        except InvalidEventError as exc:
            return self._dead_letter(record, exc.reason, exc.error_type)
        ids = [write.task_id] if write.task_id else []  # the rollups follow it in its transaction
        return self._store(record, write.what, lambda conn: tallied(conn, ids, lambda: write(conn)))

    def _write_for(self, record: ConsumedRecord) -> Write:
        """What to write for ``record`` (:class:`InvalidEventError`: it cannot be projected)."""
        event = decode_event(record.value)
        if is_sla_signal(event):
            now = self._clock()
            return Write("alert", lambda conn: store_alerts(conn, event, now))
        if is_update(event):
            row = update_row(event, projected_at=self._clock())
            return Write("update", lambda conn: store_update(conn, row))
        if is_hold_release(event):  # units held for a rush order are free again
            return Write("hold", lambda conn: store_release(conn, event))
        task = task_row(event, projected_at=self._clock())
        locale = self._config.default_locale
        return Write("task", lambda conn: store_task(conn, event, task, locale), task["task_id"])

    def _store(
        self, record: ConsumedRecord, what: str, write: Callable[[sa.Connection], str]
    ) -> str:
        """Run ``write`` in one transaction; what the database refuses is dead-lettered."""
        try:
            with self._engine.begin() as conn:
                outcome = write(conn)
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            reason = f"the database refused the {what}: {str(exc.orig).strip()}"
            return self._dead_letter(record, reason, type(exc.orig).__name__)
        except sa.exc.SQLAlchemyError as exc:
            raise RetryLaterError("database", exc) from exc
        return self._count(outcome)

    def _dead_letter(self, record: ConsumedRecord, reason: str, error_type: str) -> str:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        value = dead_letter(record, reason=reason, error_type=error_type, at=self._clock())
        try:
            self._dead_letters.send(record.key, value)
        except PublishError as exc:
            raise RetryLaterError("dead-letter topic", exc) from exc
        self._metrics.dead_lettered(error_type)
        return self._count(DEAD_LETTERED)

    def _count(self, outcome: str) -> str:
        self.processed[outcome] += 1
        self._metrics.tasks_projected.labels(outcome=outcome).inc()
        return outcome

    # the thread

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the projector runs already")
        self._thread = threading.Thread(target=self.run, name="handoff-api-projector", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def polled_ago(self) -> float | None:
        """Seconds since a poll (with partitions assigned) ended with every record stored."""
        return None if self._polled_at is None else time.monotonic() - self._polled_at

    def stop(self, timeout: float = 15.0) -> None:
        """Stop consuming, close the Kafka clients, wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the projector thread did not stop within %.0f s", timeout)
        self._dead_letters.close()

    # the loop

    def run(self) -> None:
        policy = BackoffPolicy(self._config.backoff_initial_s, self._config.backoff_max_s)
        backoff = Backoff(policy)
        while not self._stop.is_set():
            try:
                consumer = self._consumer_factory(self._config)
            except KafkaError as exc:
                self._retry("broker", exc, backoff)
                continue
            self._start_at.forget()  # a new consumer: where each partition starts, again
            try:
                self._consume(consumer, backoff)
            except Exception as exc:  # keep the thread alive: log, back off, reconnect
                log.exception("the projector's consumer failed; reconnecting")
                self._retry("broker", exc, backoff)
            finally:
                close_consumer(consumer)

    def _consume(self, consumer: KafkaConsumer, backoff: Backoff) -> None:
        joining = JoinWatch(self._config.group_id)
        while not self._stop.is_set():
            joining.check(consumer)
            batch = consumer.poll(timeout_ms=self._config.poll_timeout_ms)
            done: Offsets = {}
            failure = self._handle_batch(consumer, batch, done)
            if done:
                commit_offsets(consumer, done)
            if failure is not None:
                self._retry(failure.part, failure, backoff)
                continue
            if batch:
                backoff.reset()
            if consumer.assignment():  # in the group, and what was polled is stored
                self._polled_at = time.monotonic()

    def _handle_batch(
        self, consumer: KafkaConsumer, batch: dict[TopicPartition, list[Any]], done: Offsets
    ) -> RetryLaterError | None:
        """Handle a polled batch, noting the offsets to commit in ``done``; the first failure.

        When every record projects cleanly they share one transaction
        (:meth:`_store_together`); else each has its own, in order, as
        :meth:`handle` does. After a failure (or once stopping) each partition seeks
        back to its first unhandled record, so the next poll fetches it again.
        """
        kept = {tp: self._start_at.records(consumer, tp, rs, done) for tp, rs in batch.items()}
        kept = {tp: records for tp, records in kept.items() if records}
        if sum(len(records) for records in kept.values()) > 1 and not self._stop.is_set():
            try:
                return self._store_together(consumer, kept, done)
            except OneByOneError:
                pass  # nothing was written
        failure: RetryLaterError | None = None
        for tp, records in kept.items():
            if failure is not None or self._stop.is_set():
                consumer.seek(tp, records[0].offset)  # keep them: fetched again next poll
                continue
            failure = self._handle_partition(consumer, tp, records, done)
        return failure

    def _store_together(
        self, consumer: KafkaConsumer, kept: dict[TopicPartition, list[Any]], done: Offsets
    ) -> RetryLaterError | None:
        """Every record in one transaction, the figures' rollups tallied once for all.

        A transaction per message was 15 statements and a commit for each task, 14 of
        them the rollups' (issue 15, target 6). :class:`OneByOneError` when a record is
        to be dead-lettered or must wait for its task: then nothing was written."""
        try:
            writes = [(tp, r, self._write_for(r)) for tp, rs in kept.items() for r in rs]
        except InvalidEventError:
            raise OneByOneError from None
        ids = [write.task_id for _, _, write in writes if write.task_id]
        try:
            with self._engine.begin() as conn:
                outcomes = tallied(conn, ids, lambda: [write(conn) for _, _, write in writes])
        except (TaskNotProjectedError, sa.exc.DataError, sa.exc.IntegrityError):
            raise OneByOneError from None
        except sa.exc.SQLAlchemyError as exc:
            for tp, records in kept.items():
                consumer.seek(tp, records[0].offset)
            return RetryLaterError("database", exc)
        for (tp, record, _), outcome in zip(writes, outcomes, strict=True):
            self._count(outcome)
            done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            self._stalled.pop(tp, None)
        return None

    def _handle_partition(
        self, consumer: KafkaConsumer, tp: TopicPartition, records: list[Any], done: Offsets
    ) -> RetryLaterError | None:
        """One partition's records in order, up to the first that fails or must wait."""
        for record in records:
            if self._stop.is_set():
                consumer.seek(tp, record.offset)
                return None
            try:
                self._handle_or_give_up(consumer, tp, record)
            except RetryLaterError as exc:
                consumer.seek(tp, record.offset)
                return exc
            except TaskNotProjectedError:
                consumer.seek(tp, record.offset)  # this partition waits; the others go on
                self._stop.wait(0.05)
                return None
            done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        return None

    def _handle_or_give_up(self, consumer: KafkaConsumer, tp: TopicPartition, record: Any) -> None:
        """Handle ``record``; a signal whose task can no longer come is dead-lettered."""
        try:
            self.handle(record)
        except TaskNotProjectedError as exc:
            if not self._task_cannot_come(consumer, tp):
                raise
            where = f"partition {tp.partition} of {topics.ROUTED} is read to its end"
            self._dead_letter(record, f"{exc}, and {where}", "UnknownTask")
        self._stalled.pop(tp, None)

    def _task_cannot_come(self, consumer: KafkaConsumer, tp: TopicPartition) -> bool:
        """Whether this process read its ``handoff.routed`` partition to the end since the
        signal began to wait (the task's ``task.routed`` is written before its signals)."""
        since = self._stalled.setdefault(tp, time.monotonic())
        if time.monotonic() - since < WAIT_FOR_TASK_S:
            return False
        routed = TopicPartition(topics.ROUTED, tp.partition)
        try:
            end = consumer.highwater(routed)
            return end is not None and consumer.position(routed) >= end
        except KafkaError:  # not this process's partition: nothing more will come here
            return True

    def _retry(self, part: str, exc: BaseException, backoff: Backoff) -> None:
        self.retries[part] += 1
        self._metrics.projector_retries.labels(part=part).inc()
        delay = backoff.next()
        log.warning("projector: %s failed (%s); retrying in %.1f s", part, str(exc), delay)
        self._stop.wait(delay)
