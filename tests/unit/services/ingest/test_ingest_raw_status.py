"""Raw ingest's own figures and status: what it counts, /metrics and /healthz over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from services.ingest import settings
from services.ingest.metrics import RAW_OUTCOMES, RAW_SOURCES, IngestMetrics, RawIngestMetrics
from services.ingest.raw import RawIngest, StatusServer, raw_topic

from .adapters.fixtures import load
from .test_ingest_raw import NOW, FakeConsumer, FakePublisher, Record

TP = TopicPartition(raw_topic("hubspot"), 0)
GOOD = json.dumps(load("hubspot_deal_won.json")).encode()
BAD = b'{"id": "1", "properties": {"dealstage": "closedwon"}}'  # no rep e-mail


def make(consumer: FakeConsumer, publisher: FakePublisher) -> tuple[RawIngest, CollectorRegistry]:
    registry = CollectorRegistry()
    worker = RawIngest(
        consumer,
        publisher,
        IngestMetrics(registry),
        raw_metrics=RawIngestMetrics(registry),
        clock=lambda: NOW,
    )
    return worker, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_every_raw_source_and_outcome_starts_at_zero() -> None:
    registry = CollectorRegistry()
    RawIngestMetrics(registry)
    for source in RAW_SOURCES:
        assert value(registry, "handoff_ingest_raw_records_consumed_total", source=source) == 0
        assert value(registry, "handoff_ingest_raw_produce_retries_total", source=source) == 0
        for outcome in RAW_OUTCOMES:
            labels = {"source": source, "outcome": outcome}
            assert value(registry, "handoff_ingest_raw_records_total", **labels) == 0
    assert value(registry, "handoff_ingest_raw_last_commit_timestamp_seconds") == 0
    assert set(RAW_SOURCES) == set(settings.RAW_SOURCES)  # every source it may consume


def test_a_good_and_a_bad_record_are_counted_by_source_and_outcome() -> None:
    batch = {TP: [Record(TP.topic, 0, 10, b"k", GOOD), Record(TP.topic, 0, 11, b"k", BAD)]}
    worker, registry = make(FakeConsumer([batch]), FakePublisher())

    worker.poll_once()

    assert value(registry, "handoff_ingest_raw_records_consumed_total", source="hubspot") == 2
    for outcome in RAW_OUTCOMES:
        labels = {"source": "hubspot", "outcome": outcome}
        assert value(registry, "handoff_ingest_raw_records_total", **labels) == 1
    assert value(registry, "handoff_ingest_raw_produce_retries_total", source="hubspot") == 0
    assert value(registry, "handoff_ingest_raw_last_commit_timestamp_seconds") == NOW.timestamp()
    assert value(registry, "handoff_ingest_raw_records_consumed_total", source="zendesk") == 0


def test_a_record_kafka_did_not_acknowledge_is_a_retry_and_is_read_again() -> None:
    records = [Record(TP.topic, 0, o, b"k", GOOD) for o in (5, 6, 7)]
    again = [Record(TP.topic, 0, o, b"k", GOOD) for o in (6, 7)]
    publisher = FakePublisher(fail_on=1)
    worker, registry = make(FakeConsumer([{TP: records}, {TP: again}]), publisher)

    worker.poll_once()  # 5 acked and committed; 6 not acked; 7 not tried (backs off 0.5 s)
    assert value(registry, "handoff_ingest_raw_records_consumed_total", source="hubspot") == 2
    assert value(registry, "handoff_ingest_raw_produce_retries_total", source="hubspot") == 1
    normalised = {"source": "hubspot", "outcome": "normalised"}
    assert value(registry, "handoff_ingest_raw_records_total", **normalised) == 1

    publisher.fail_on = None  # Kafka is back
    worker.poll_once()  # read again: now acknowledged
    assert value(registry, "handoff_ingest_raw_records_consumed_total", source="hubspot") == 4
    assert value(registry, "handoff_ingest_raw_records_total", **normalised) == 3
    assert value(registry, "handoff_ingest_raw_produce_retries_total", source="hubspot") == 1


def test_health_is_ok_only_while_the_loop_consumes() -> None:
    stop = threading.Event()
    seen: list[dict[str, Any]] = []

    class OnePoll(FakeConsumer):
        def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
            seen.append(worker.health())
            stop.set()
            return {}

    worker, _ = make(OnePoll([]), FakePublisher())
    assert worker.health()["consuming"] is False
    worker.consume(stop)
    assert [h["status"] for h in seen] == ["ok"]
    after = worker.health()
    assert (after["status"], after["consuming"]) == ("stopped", False)
    assert after["last_poll_at"] == NOW.isoformat()


def test_the_loop_stops_being_healthy_when_it_fails() -> None:
    class Broken(FakeConsumer):
        def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
            raise RuntimeError("consumer closed")

    worker, _ = make(Broken([]), FakePublisher())
    with pytest.raises(RuntimeError):
        worker.consume(threading.Event())
    assert worker.health()["consuming"] is False


@pytest.fixture
def server() -> Iterator[tuple[StatusServer, CollectorRegistry]]:
    registry = CollectorRegistry()
    RawIngestMetrics(registry).records.labels(source="hubspot", outcome="normalised").inc(3)
    status = StatusServer("127.0.0.1", 0, registry)
    status.start()
    try:
        yield status, registry
    finally:
        status.close()


def test_the_status_server_serves_the_registry_on_metrics(
    server: tuple[StatusServer, CollectorRegistry],
) -> None:
    status, _ = server
    response = httpx.get(status.url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    line = 'handoff_ingest_raw_records_total{outcome="normalised",source="hubspot"} 3.0'
    assert line in response.text.splitlines()


def test_healthz_is_503_until_the_loop_consumes_then_200(
    server: tuple[StatusServer, CollectorRegistry],
) -> None:
    status, _ = server
    starting = httpx.get(status.url + "/healthz", timeout=5)
    assert (starting.status_code, starting.json()["status"]) == (503, "starting")

    consuming = {"status": "ok", "consuming": True}
    status.health = lambda: consuming
    ok = httpx.get(status.url + "/healthz", timeout=5)
    assert (ok.status_code, ok.json()) == (200, consuming)

    status.health = lambda: {"status": "stopped", "consuming": False}
    assert httpx.get(status.url + "/healthz", timeout=5).status_code == 503
    assert httpx.get(status.url + "/nothing", timeout=5).status_code == 404
