"""Ingest's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.ingest.signatures import REASONS
from services.kafka_lag import ConsumerLagCollector, watch_consumer_lag

# HTTP sources, and the raw Kafka sources as raw:<source> (a bounded set either way).
SOURCES = (
    "support", "sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot",
    "raw:handoff", "raw:zendesk", "raw:freshdesk", "raw:salesforce", "raw:hubspot",
    "raw:capacity-csv",
)  # fmt: skip
OUTCOMES = (
    "accepted",
    "rejected",
    "unavailable",
    "too_large",
    "unsupported_media",
    "unauthorized",
    "dead_lettered",
)
RAW_SOURCES = tuple(s.removeprefix("raw:") for s in SOURCES if s.startswith("raw:"))
RAW_OUTCOMES = ("normalised", "dead_lettered")
# Why raw-ingest parked a record on handoff.dlq (services/ingest/raw.py), else other.
RAW_DLQ_REASONS = ("InvalidPayload", "other")
PUBLISH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "handoff_ingest_events_total",
            "Events a source posted, by outcome (accepted = acknowledged by Kafka).",
            ["source", "outcome"],
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "handoff_ingest_publish_seconds",
            "Time from handing an event to Kafka to its acknowledgement (or the failure).",
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        self.signature_failures = Counter(
            "handoff_ingest_signature_failures_total",
            "Webhooks refused with a 401, by source and reason.",
            ["source", "reason"],
            registry=registry,
        )
        self.requests = Counter(
            "handoff_ingest_requests_total",
            "HTTP requests by route template, method and status code (5xx: ingest's fault).",
            ["route", "method", "status"],
            registry=registry,
        )
        for source in SOURCES:
            for outcome in OUTCOMES:
                self.events.labels(source=source, outcome=outcome)
            for reason in REASONS:
                if not source.startswith("raw:"):
                    self.signature_failures.labels(source=source, reason=reason)

    def count(self, source: str, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        self.events.labels(source=source, outcome=outcome).inc()

    def responded(self, route: str, method: str, status: int) -> None:
        """One HTTP response; ``route`` is the path template (/v1/sources/{source}/...)."""
        self.requests.labels(route=route, method=method, status=str(status)).inc()


class RawIngestMetrics:
    """The Kafka-native path's own figures (``handoff serve raw-ingest``), by bare source name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "handoff_ingest_raw_records_consumed_total",
            "Records read from handoff.raw.<source> (again after Kafka did not acknowledge).",
            ["source"],
            registry=registry,
        )
        self.records = Counter(
            "handoff_ingest_raw_records_total",
            "Records done with, by outcome (normalised = its events acknowledged by Kafka).",
            ["source", "outcome"],
            registry=registry,
        )
        self.produce_retries = Counter(
            "handoff_ingest_raw_produce_retries_total",
            "Times Kafka did not acknowledge a record's events, so it is read again.",
            ["source"],
            registry=registry,
        )
        self.last_commit = Gauge(
            "handoff_ingest_raw_last_commit_timestamp_seconds",
            "Unix time of the last offset commit (0 before the first).",
            registry=registry,
        )
        self.dead_letters = Counter(
            "handoff_ingest_raw_dead_letters_total",
            "Records sent to handoff.dlq, by source and reason (the error type).",
            ["source", "reason"],
            registry=registry,
        )
        self._registry = registry
        for source in RAW_SOURCES:
            self._zero(source)

    def _zero(self, source: str) -> None:
        self.consumed.labels(source=source)
        self.produce_retries.labels(source=source)
        for outcome in RAW_OUTCOMES:
            self.records.labels(source=source, outcome=outcome)
        for reason in RAW_DLQ_REASONS:
            self.dead_letters.labels(source=source, reason=reason)

    def dead_lettered(self, source: str, error_type: str) -> None:
        """One record sent to handoff.dlq; an unknown error type counts as other."""
        reason = error_type if error_type in RAW_DLQ_REASONS else "other"
        self.dead_letters.labels(source=source, reason=reason).inc()

    def watch_consumer_lag(self, bootstrap: str, groups: Sequence[str]) -> ConsumerLagCollector:
        """Serve raw-ingest's consumer-group lag (handoff_ingest_raw_consumer_lag_messages)."""
        return watch_consumer_lag(self._registry, "ingest_raw", bootstrap, groups)
