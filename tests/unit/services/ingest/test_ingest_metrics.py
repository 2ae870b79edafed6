"""Ingest's metrics: names, bounded labels, zero-initialised outcomes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.ingest.metrics import OUTCOMES, IngestMetrics


def test_every_outcome_starts_at_zero_so_dashboards_see_it() -> None:
    registry = CollectorRegistry()
    IngestMetrics(registry)

    for outcome in OUTCOMES:
        labels = {"source": "support", "outcome": outcome}
        assert registry.get_sample_value("handoff_ingest_events_total", labels) == 0.0
    assert registry.get_sample_value("handoff_ingest_publish_seconds_count") == 0.0


def test_count_and_observe() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)

    metrics.count("support", "too_large")
    metrics.count("support", "too_large")
    metrics.publish_seconds.observe(0.02)

    labels = {"source": "support", "outcome": "too_large"}
    assert registry.get_sample_value("handoff_ingest_events_total", labels) == 2.0
    bucket = registry.get_sample_value("handoff_ingest_publish_seconds_bucket", {"le": "0.025"})
    assert bucket == 1.0


def test_an_unknown_outcome_is_a_bug_not_a_new_label() -> None:
    with pytest.raises(ValueError, match="outcome"):
        IngestMetrics(CollectorRegistry()).count("support", "weird")


def test_two_apps_in_one_process_use_separate_registries() -> None:
    IngestMetrics(CollectorRegistry())
    IngestMetrics(CollectorRegistry())
