"""The consumer-lag collector: lag arithmetic, the cache, and a scrape that never hangs."""

from __future__ import annotations

import gc
import logging
import threading
import time

import pytest
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry, generate_latest

from services.kafka_lag import (
    CachedReading,
    ConsumerLagCollector,
    KafkaLagReader,
    LagByGroupTopic,
    lag_by_group_topic,
)


@pytest.mark.parametrize(
    ("committed", "ends", "lag"),
    [
        ({"g": {("t", 0): 5, ("t", 1): 7}}, {("t", 0): 10, ("t", 1): 7}, {("g", "t"): 5}),
        ({"g": {("t", 0): 12}}, {("t", 0): 10}, {("g", "t"): 0}),  # ends read before commits
        ({"g": {("t", 0): -1}}, {("t", 0): 10}, {}),  # no commit on that partition
        ({"g": {("a", 0): 1}, "h": {("a", 0): 3}}, {("a", 0): 4}, {("g", "a"): 3, ("h", "a"): 1}),
        ({"g": {("t", 0): 1}}, {}, {}),  # end unknown
    ],
)
def test_lag_is_summed_per_group_and_topic(
    committed: dict[str, dict[tuple[str, int], int]],
    ends: dict[tuple[str, int], int],
    lag: LagByGroupTopic,
) -> None:
    assert lag_by_group_topic(committed, ends) == lag


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_the_collector_serves_lag_and_caches_it() -> None:
    calls: list[tuple[str, ...]] = []

    def read(groups: object) -> LagByGroupTopic:
        calls.append(tuple(groups))  # type: ignore[arg-type]
        return {("handoff-router", "handoff.ingest.support"): 7}

    registry = CollectorRegistry()
    registry.register(ConsumerLagCollector("router", ["handoff-router"], read, max_age_s=60))
    assert calls == []  # registering does not read
    text = scrape(registry)
    scrape(registry)
    assert (
        'handoff_router_consumer_lag_messages{group="handoff-router",'
        'topic="handoff.ingest.support"} 7.0'
    ) in text
    assert calls == [("handoff-router",)]
    success = registry.get_sample_value(
        "handoff_router_consumer_lag_last_success_timestamp_seconds"
    )
    assert success is not None
    assert success > 0


def test_a_hung_broker_does_not_hang_the_scrape() -> None:
    release = threading.Event()

    def read(groups: object) -> LagByGroupTopic:
        release.wait(10)
        return {("g", "t"): 1}

    registry = CollectorRegistry()
    registry.register(ConsumerLagCollector("api", ["g"], read, wait_s=0.2))
    started = time.monotonic()
    text = scrape(registry)
    assert time.monotonic() - started < 2
    assert "handoff_api_consumer_lag_messages{" not in text
    assert registry.get_sample_value("handoff_api_consumer_lag_last_success_timestamp_seconds") == 0
    release.set()


def test_a_failed_read_drops_the_stale_value() -> None:
    values: list[object] = [{("g", "t"): 3}, RuntimeError("broker down")]

    def read() -> LagByGroupTopic:
        value = values.pop(0)
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[return-value]

    cache = CachedReading(read, max_age_s=0, wait_s=5)
    assert cache.get() == {("g", "t"): 3}
    assert cache.get() is None


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unreachable_broker_is_an_error_within_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="kafka")  # its records would keep sockets alive
    reader = KafkaLagReader("127.0.0.1:1", timeout_ms=1000)
    started = time.monotonic()
    with pytest.raises(KafkaError):
        reader(["g"])
    assert time.monotonic() - started < 10
    reader.close()
    gc.collect()  # kafka-python 3.0.12 leaves the failed socket unclosed: collect it here
