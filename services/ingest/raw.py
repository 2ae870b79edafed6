"""Kafka-native sources: ``handoff.raw.<source>`` -> the same adapters -> handoff's topics.

A tool that already produces to Kafka writes its raw payloads (the same JSON it would
POST; CSV text for ``capacity-csv``) to ``handoff.raw.<source>``. Each record is
normalised, its events produced (acks=all, idempotent) and only then its offset
committed; a record that cannot be normalised goes to ``handoff.dlq`` with the reason,
the source and its original bytes, and is counted. If Kafka does not acknowledge, the
record is read again (nothing committed): redelivery is harmless, ids are deterministic.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas import topics
from schemas.dlq import DeadLetter
from services.ingest.adapters import ADAPTERS
from services.ingest.adapters.base import AdapterContext, AdapterError
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import EventPublisher, PublishError

log = logging.getLogger(__name__)

SERVICE = "ingest"
BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class Consumer(Protocol):
    """The part of ``kafka.KafkaConsumer`` the raw ingest uses."""

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None: ...


def raw_topic(source: str) -> str:
    return topics.RAW_PREFIX + source


class RawIngest:
    """Normalises raw records; ``poll_once`` handles one batch and commits what was done."""

    def __init__(
        self,
        consumer: Consumer,
        publisher: EventPublisher,
        metrics: IngestMetrics,
        *,
        loss_reasons: tuple[str, ...] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._consumer = consumer
        self._publisher = publisher
        self._metrics = metrics
        self._loss_reasons = loss_reasons
        self._clock = clock
        self._failures = 0

    def handle(self, record: Any) -> None:
        """Normalise and produce one record (or dead-letter it); PublishError if not acked."""
        source = str(record.topic).removeprefix(topics.RAW_PREFIX)
        try:
            outs = self._normalise(source, record.value)
        except AdapterError as exc:
            self._dead_letter(record, source, str(exc), "InvalidPayload")
            return
        for out in outs:
            self._publisher.publish(out.topic, out.key.encode(), out.event.to_bytes())
        self._metrics.count(f"raw:{source}", "accepted")

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Handle one polled batch; commit each partition up to its last handled record."""
        batch = self._consumer.poll(timeout_ms=timeout_ms)
        done: dict[TopicPartition, OffsetAndMetadata] = {}
        failed: PublishError | None = None
        handled = 0
        for tp, records in batch.items():
            for record in records:
                if failed is not None:
                    self._consumer.seek(tp, record.offset)
                    break
                try:
                    self.handle(record)
                except PublishError as exc:
                    failed = exc
                    self._consumer.seek(tp, record.offset)  # read again: nothing committed
                    break
                done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
                handled += 1
        if done:
            self._consumer.commit(done)
        if failed is not None:
            self._failures += 1
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S)) - 1]
            log.warning("raw ingest: Kafka did not acknowledge (%s); retry in %.1fs", failed, delay)
            threading.Event().wait(delay)
        elif batch:
            self._failures = 0
        return handled

    def _normalise(self, source: str, value: bytes | None) -> list[Any]:
        adapter = ADAPTERS.get(source)
        if adapter is None:
            raise AdapterError.at(("topic",), f"no adapter for source {source!r}", "unknown_source")
        raw = value or b""
        ctx = AdapterContext(received_at=self._clock())
        if self._loss_reasons is not None:
            ctx = AdapterContext(received_at=ctx.received_at, loss_reasons=self._loss_reasons)
        if source == "capacity-csv":
            return adapter(raw, ctx)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            msg = f"value is not valid UTF-8 (invalid byte at offset {exc.start})"
            raise AdapterError.at(("value",), msg, "utf8_invalid") from None
        except (json.JSONDecodeError, RecursionError) as exc:
            raise AdapterError.at(("value",), f"invalid JSON: {exc}", "json_invalid") from None
        return adapter(payload, ctx)

    def _dead_letter(self, record: Any, source: str, reason: str, error_type: str) -> None:
        letter = DeadLetter.from_raw(
            reason=f"{source}: {reason}",
            error_type=error_type,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            service=SERVICE,
            at=self._clock(),
        )
        self._publisher.publish(topics.DLQ, record.key or b"", letter.to_bytes())
        self._metrics.count(f"raw:{source}", "dead_lettered")
        log.warning(
            "raw ingest: %s[%d]@%d dead-lettered: %s",
            record.topic,
            record.partition,
            record.offset,
            reason[:200],
        )


def run(settings: Any, stop: threading.Event | None = None) -> None:
    """Consume the raw topics until stopped (``handoff serve raw-ingest``)."""
    from kafka import KafkaConsumer
    from prometheus_client import REGISTRY

    from services.ingest.publisher import KafkaPublisher
    from services.kafka_admin import ensure_topics

    names = [raw_topic(s) for s in settings.ingest_raw_sources]
    ensure_topics(settings.kafka_bootstrap, [*names, topics.DLQ], settings.topic_partitions)
    consumer = KafkaConsumer(
        *names,
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=settings.ingest_raw_consumer_group,
        client_id="handoff-ingest-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.ingest_raw_session_timeout_ms,
    )
    publisher = KafkaPublisher(
        settings.kafka_bootstrap,
        ack_timeout_s=settings.ingest_ack_timeout_s,
        client_id="handoff-ingest-raw",
    )
    worker = RawIngest(
        consumer, publisher, IngestMetrics(REGISTRY), loss_reasons=settings.ingest_loss_reasons
    )
    stop = stop or threading.Event()
    log.info("raw ingest consuming %s", ", ".join(names))
    try:
        while not stop.is_set():
            worker.poll_once()
    finally:
        consumer.close(autocommit=False)
        publisher.close()
