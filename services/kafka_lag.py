"""Consumer lag per group and topic, read at scrape time through kafka-python's admin client.

``ConsumerLagCollector`` is a prometheus_client custom collector: a scrape
serves ``handoff_<service>_consumer_lag_messages{group, topic}`` (the sum over
the topic's partitions of end offset minus committed offset) from a short
cache. When the cache is stale the scrape starts one refresh on a background
thread and waits for it at most ``wait_s``: a broker that is down or slow
never hangs a scrape, it only leaves the lag series out (and the
``..._consumer_lag_last_success_timestamp_seconds`` gauge where it was).

``CachedReading`` is that bounded-wait cache on its own, for other gauges
read from something slow (the API's rollups from the database).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from services.kafka_group import RECONNECT_BACKOFF_MAX_MS

log = logging.getLogger(__name__)

T = TypeVar("T")
LagByGroupTopic = dict[tuple[str, str], int]
# committed offsets {group: {(topic, partition): offset}}, end offsets {(topic, partition): offset}
Committed = Mapping[str, Mapping[tuple[str, int], int]]
Ends = Mapping[tuple[str, int], int]
LagReader = Callable[[Sequence[str]], LagByGroupTopic]


def lag_by_group_topic(committed: Committed, ends: Ends) -> LagByGroupTopic:
    """Sum per group and topic of ``end - committed`` over partitions with a commit (never < 0)."""
    lag: dict[tuple[str, str], int] = defaultdict(int)
    for group, offsets in committed.items():
        for (topic, partition), offset in offsets.items():
            end = ends.get((topic, partition))
            if offset >= 0 and end is not None:
                lag[(group, topic)] += max(0, end - offset)
    return dict(lag)


class KafkaLagReader:
    """Reads committed and end offsets with one admin client, made lazily, dropped on error."""

    def __init__(self, bootstrap: str, timeout_ms: int = 5000) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = timeout_ms
        self._admin: KafkaAdminClient | None = None

    def __call__(self, groups: Sequence[str]) -> LagByGroupTopic:
        try:
            admin = self._client()
            committed = _committed(admin, groups)
            wanted = {tp for offsets in committed.values() for tp in offsets}
            return lag_by_group_topic(committed, _ends(admin, wanted))
        except Exception:
            self.close()
            raise

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self._bootstrap,
                client_id="handoff-lag",
                request_timeout_ms=self._timeout_ms,
                bootstrap_timeout_ms=self._timeout_ms,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
        return self._admin

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()


def _committed(admin: KafkaAdminClient, groups: Sequence[str]) -> Committed:
    found: dict[str, Any] = admin.list_group_offsets(list(groups))
    return {
        group: {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
        for group, offsets in found.items()
    }


def _ends(admin: KafkaAdminClient, partitions: Iterable[tuple[str, int]]) -> Ends:
    specs = {TopicPartition(topic, p): OffsetSpec.LATEST for topic, p in partitions}
    if not specs:
        return {}
    found: dict[Any, Any] = admin.list_partition_offsets(specs)
    return {(tp.topic, tp.partition): int(ot.offset) for tp, ot in found.items()}


class CachedReading(Generic[T]):
    """The last value ``read()`` returned, refreshed on a thread when older than ``max_age_s``.

    ``get()`` waits for a refresh at most ``wait_s``; a failed read clears the
    value (``None``) rather than serving a stale one, and is logged.
    """

    def __init__(
        self,
        read: Callable[[], T],
        *,
        max_age_s: float = 15.0,
        wait_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._max_age_s, self._wait_s, self._clock = read, max_age_s, wait_s, clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at: float | None = None
        self.succeeded_at = 0.0  # Unix time of the last successful read (0: never)
        self._worker: threading.Thread | None = None

    def get(self) -> T | None:
        with self._lock:
            if self._worker is None and self._stale():
                self._worker = threading.Thread(target=self._refresh, daemon=True)
                self._worker.start()
            worker = self._worker
        if worker is not None:
            worker.join(self._wait_s)
        with self._lock:
            return self._value

    def _stale(self) -> bool:
        return self._read_at is None or self._clock() - self._read_at >= self._max_age_s

    def _refresh(self) -> None:
        value: T | None = None
        try:
            value = self._read()
            ok = True
        except Exception as exc:
            log.warning("reading %s failed: %s", getattr(self._read, "__name__", "a gauge"), exc)
            ok = False
        with self._lock:
            self._value, self._read_at, self._worker = value, self._clock(), None
            if ok:
                self.succeeded_at = time.time()


class ConsumerLagCollector(Collector):
    """``handoff_<service>_consumer_lag_messages{group, topic}`` for the given consumer groups."""

    def __init__(
        self,
        service: str,
        groups: Sequence[str],
        read: LagReader,
        *,
        max_age_s: float = 15.0,
        wait_s: float = 2.0,
    ) -> None:
        self.lag_name = f"handoff_{service}_consumer_lag_messages"
        self.success_name = f"handoff_{service}_consumer_lag_last_success_timestamp_seconds"
        self._groups = tuple(groups)
        self._reading = CachedReading(
            lambda: read(self._groups), max_age_s=max_age_s, wait_s=wait_s
        )

    def describe(self) -> Iterator[Metric]:
        """The families without values: registering must not reach the broker."""
        yield self._lag_family()
        yield self._success_family()

    def collect(self) -> Iterator[Metric]:
        lag, family = self._reading.get(), self._lag_family()
        for (group, topic), messages in sorted((lag or {}).items()):
            family.add_metric([group, topic], messages)
        yield family
        success = self._success_family()
        success.add_metric([], self._reading.succeeded_at)
        yield success

    def _lag_family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self.lag_name,
            "Messages behind the end of the topic, summed over its partitions, per consumer group.",
            labels=["group", "topic"],
        )

    def _success_family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self.success_name, "Unix time of the last successful consumer-lag read (0: never)."
        )


def watch_consumer_lag(
    registry: CollectorRegistry, service: str, bootstrap: str, groups: Sequence[str]
) -> ConsumerLagCollector:
    """Serve ``groups``' lag as ``handoff_<service>_consumer_lag_messages`` on ``registry``."""
    collector = kafka_lag_collector(service, bootstrap, groups)
    registry.register(collector)
    return collector


def kafka_lag_collector(
    service: str, bootstrap: str, groups: Sequence[str], **options: float
) -> ConsumerLagCollector:
    """The collector reading ``groups``' lag from the brokers at ``bootstrap``."""
    return ConsumerLagCollector(service, groups, KafkaLagReader(bootstrap), **options)
