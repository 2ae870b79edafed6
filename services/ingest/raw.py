"""Kafka-native sources: ``handoff.raw.<source>`` -> the same adapters -> handoff's topics.

A tool that already produces to Kafka writes its raw payloads (the same JSON it would
POST; CSV text for ``capacity-csv``) to ``handoff.raw.<source>``. Each record is
normalised, its events produced (acks=all, idempotent) and only then its offset
committed; a record that cannot be normalised goes to ``handoff.dlq`` with the reason,
the source and its original bytes, and is counted. If Kafka does not acknowledge, the
record is read again (nothing committed): redelivery is harmless, ids are deterministic.
A small HTTP endpoint serves ``/metrics`` and ``/healthz`` (200 while the loop consumes).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from schemas import topics
from schemas.dlq import DeadLetter
from services.ingest.adapters import ADAPTERS
from services.ingest.adapters.base import AdapterContext, AdapterError
from services.ingest.adapters.labels import LabelMap
from services.ingest.decoding import JsonLimits, decode_json
from services.ingest.metrics import IngestMetrics, RawIngestMetrics
from services.ingest.publisher import EventPublisher, PublishError
from services.ingest.times import TimeWindow

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


def source_of(record: Any) -> str:
    return str(record.topic).removeprefix(topics.RAW_PREFIX)


class RawIngest:
    """Normalises raw records; ``poll_once`` handles one batch and commits what was done."""

    def __init__(
        self,
        consumer: Consumer,
        publisher: EventPublisher,
        metrics: IngestMetrics,
        *,
        raw_metrics: RawIngestMetrics | None = None,
        loss_reasons: tuple[str, ...] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: JsonLimits | None = None,
        window: TimeWindow | None = None,
        labels: Mapping[str, LabelMap] | None = None,
        lead_statuses: Mapping[str, str] | None = None,
    ) -> None:
        self._labels = labels or {}  # per source: routing labels from its fields and tags
        self._lead_statuses = lead_statuses  # the configured lead-status map (else defaults)
        self._limits = limits or JsonLimits()
        self._window = window or TimeWindow()
        self._consumer = consumer
        self._publisher = publisher
        self._metrics = metrics
        self._raw = raw_metrics or RawIngestMetrics(CollectorRegistry())
        self._loss_reasons = loss_reasons
        self._clock = clock
        self._failures = 0
        self._consuming = False
        self._last_poll: datetime | None = None

    def consume(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; healthy while it runs."""
        self._consuming = True
        try:
            while not stop.is_set():
                self.poll_once()
        finally:
            self._consuming = False

    def health(self) -> dict[str, Any]:
        """For /healthz: whether the loop consumes, its last poll, Kafka failures in a row."""
        return {
            "status": "ok" if self._consuming else "stopped",
            "consuming": self._consuming,
            "last_poll_at": self._last_poll.isoformat() if self._last_poll else None,
            "unacknowledged_in_a_row": self._failures,
        }

    def handle(self, record: Any) -> None:
        """Normalise and produce one record (or dead-letter it); PublishError if not acked."""
        source = source_of(record)
        self._raw.consumed.labels(source=source).inc()
        try:
            outs = self._normalise(source, record.value)
        except AdapterError as exc:
            self._dead_letter(record, source, str(exc), "InvalidPayload")
            return
        for out in outs:
            self._publisher.publish(out.topic, out.key.encode(), out.event.to_bytes())
        self._metrics.count(f"raw:{source}", "accepted")
        self._raw.records.labels(source=source, outcome="normalised").inc()

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
                    self._raw.produce_retries.labels(source=source_of(record)).inc()
                    break
                done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
                handled += 1
        if done:
            self._consumer.commit(done)
            self._raw.last_commit.set(self._clock().timestamp())
        self._last_poll = self._clock()
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
        ctx = AdapterContext(
            received_at=self._clock(), window=self._window, labels=self._labels.get(source, {})
        )
        if self._loss_reasons is not None:
            ctx = replace(ctx, loss_reasons=self._loss_reasons)
        if self._lead_statuses is not None:
            ctx = replace(ctx, lead_statuses=self._lead_statuses)
        if source == "capacity-csv":
            return adapter(raw, ctx)
        return adapter(decode_json(raw, self._limits, ("value",)), ctx)

    def _dead_letter(self, record: Any, source: str, reason: str, error_type: str) -> None:
        letter = DeadLetter.of_record(
            record,
            reason=f"{source}: {reason}",
            error_type=error_type,
            service=SERVICE,
            at=self._clock(),
        )
        self._publisher.publish(topics.DLQ, record.key or b"", letter.to_bytes())
        self._metrics.count(f"raw:{source}", "dead_lettered")
        self._raw.records.labels(source=source, outcome="dead_lettered").inc()
        self._raw.dead_lettered(source, error_type)
        log.warning(
            "raw ingest: %s[%d]@%d dead-lettered: %s",
            record.topic,
            record.partition,
            record.offset,
            reason[:200],
        )


Health = Callable[[], dict[str, Any]]


def starting() -> dict[str, Any]:
    return {"status": "starting", "consuming": False}


class StatusServer:
    """``/metrics`` (the registry) and ``/healthz`` (200 while consuming, else 503) on a thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.health: Health = starting
        status = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self.answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    body = status.health()
                    code = 200 if body.get("consuming") else 503
                    self.answer(code, json.dumps(body).encode(), "application/json")
                else:
                    self.answer(404, b"not found: try /metrics or /healthz\n", "text/plain")

            def answer(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("status: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="handoff-ingest-raw-status", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def run(
    settings: Any, stop: threading.Event | None = None, registry: CollectorRegistry | None = None
) -> None:
    """Consume the raw topics until stopped (``handoff serve raw-ingest``), serving its status."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics, raw_metrics = IngestMetrics(registry), RawIngestMetrics(registry)
    raw_metrics.watch_consumer_lag(settings.kafka_bootstrap, [settings.ingest_raw_consumer_group])
    status = StatusServer(settings.ingest_raw_host, settings.ingest_raw_port, registry)
    status.start()  # /healthz answers 503 until the loop consumes
    log.info("raw ingest: /metrics and /healthz on %s", status.url)
    try:
        _consume(settings, stop or threading.Event(), metrics, raw_metrics, status)
    finally:
        status.close()


def _consume(
    settings: Any,
    stop: threading.Event,
    metrics: IngestMetrics,
    raw_metrics: RawIngestMetrics,
    status: StatusServer,
) -> None:
    from services.ingest.publisher import KafkaPublisher
    from services.kafka_admin import ensure_topics
    from services.kafka_group import group_consumer

    names = [raw_topic(s) for s in settings.ingest_raw_sources]
    ensure_topics(settings.kafka_bootstrap, [*names, topics.DLQ], settings.topic_partitions)
    consumer = group_consumer(
        names,
        bootstrap=settings.kafka_bootstrap.split(","),
        group_id=settings.ingest_raw_consumer_group,
        client_id="handoff-ingest-raw",
        session_timeout_ms=settings.ingest_raw_session_timeout_ms,
    )
    publisher = KafkaPublisher(
        settings.kafka_bootstrap,
        ack_timeout_s=settings.ingest_ack_timeout_s,
        client_id="handoff-ingest-raw",
    )
    worker = RawIngest(
        consumer,
        publisher,
        metrics,
        raw_metrics=raw_metrics,
        loss_reasons=settings.ingest_loss_reasons,
        limits=settings.json_limits(),
        window=settings.time_window(),
        labels={name: config.labels for name, config in settings.ingest_sources.items()},
        lead_statuses=settings.lead_statuses(),
    )
    status.health = worker.health
    log.info("raw ingest consuming %s", ", ".join(names))
    try:
        worker.consume(stop)
    finally:
        consumer.close(autocommit=False)
        publisher.close()
