"""Ingest's Prometheus metrics, built on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

SOURCES = ("support",)
OUTCOMES = ("accepted", "rejected", "unavailable", "too_large", "unsupported_media")
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
        for source in SOURCES:
            for outcome in OUTCOMES:
                self.events.labels(source=source, outcome=outcome)

    def count(self, source: str, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.events.labels(source=source, outcome=outcome).inc()
