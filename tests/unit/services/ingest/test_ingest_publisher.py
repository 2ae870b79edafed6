"""KafkaPublisher's lifecycle (lazy, rebuilt after failures, bounded waits) without a broker.

kafka-python's producer is replaced at its factory, the third-party edge.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
)

from services.core.errors import HandoffError
from services.ingest.publisher import (
    KafkaPublisher,
    PublishError,
    bootstrap_addresses,
    probe_tcp,
    producer_config,
)


@dataclass
class FakeFuture:
    error: Exception | None = None
    waited: list[float | None] = field(default_factory=list)

    def get(self, timeout: float | None = None) -> Any:
        self.waited.append(timeout)
        if self.error is not None:
            raise self.error
        return "metadata"


@dataclass
class FakeProducer:
    errors: list[Exception | None] = field(default_factory=list)
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    futures: list[FakeFuture] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    def send(self, topic: str, *, key: bytes, value: bytes) -> FakeFuture:
        self.sent.append((topic, key, value))
        self.futures.append(FakeFuture(self.errors.pop(0) if self.errors else None))
        return self.futures[-1]

    def close(self, timeout: float | None = None) -> None:
        self.closed.set()


@dataclass
class FakeFactory:
    """Hands out producers; raises the queued connection errors first."""

    failures: list[Exception] = field(default_factory=list)
    built: list[FakeProducer] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)
    send_errors: list[Exception | None] = field(default_factory=list)

    def __call__(self, timeout_s: float) -> FakeProducer:
        self.budgets.append(timeout_s)
        if self.failures:
            raise self.failures.pop(0)
        self.built.append(FakeProducer(errors=self.send_errors))
        return self.built[-1]


def publisher(factory: FakeFactory, ack_timeout_s: float = 2.0) -> KafkaPublisher:
    return KafkaPublisher("127.0.0.1:9", ack_timeout_s=ack_timeout_s, producer_factory=factory)


def test_publish_error_is_a_handoff_error() -> None:
    assert issubclass(PublishError, HandoffError)


def test_the_producer_is_built_on_first_publish_not_at_start() -> None:
    factory = FakeFactory()
    pub = publisher(factory)
    assert factory.built == []

    pub.publish("handoff.ingest.support", b"acme.com", b"{}")
    pub.publish("handoff.ingest.support", b"acme.com", b"{}")

    [producer] = factory.built
    assert producer.sent == [("handoff.ingest.support", b"acme.com", b"{}")] * 2


def test_publish_waits_for_the_ack_within_the_ack_timeout() -> None:
    factory = FakeFactory()
    publisher(factory, ack_timeout_s=2.0).publish("t", b"k", b"v")

    [wait] = factory.built[0].futures[0].waited
    assert wait is not None
    assert 1.5 < wait <= 2.0
    assert 0 < factory.budgets[0] <= 2.0


def test_unreachable_broker_is_a_publish_error_and_a_later_publish_reconnects() -> None:
    factory = FakeFactory(failures=[KafkaConnectionError(), OSError("connection refused")])
    pub = publisher(factory)

    for _ in range(2):
        with pytest.raises(PublishError, match=r"cannot reach Kafka at 127\.0\.0\.1:9"):
            pub.publish("t", b"k", b"v")
    pub.publish("t", b"k", b"v")

    assert len(factory.budgets) == 3
    assert factory.built[0].sent == [("t", b"k", b"v")]


def test_missing_ack_is_a_publish_error_and_the_producer_is_kept() -> None:
    factory = FakeFactory(send_errors=[KafkaTimeoutError("expired"), None])
    pub = publisher(factory)

    with pytest.raises(PublishError, match="did not acknowledge within 2s"):
        pub.publish("t", b"k", b"v")
    pub.publish("t", b"k", b"v2")

    assert len(factory.built) == 1
    assert not factory.built[0].closed.is_set()


def test_retriable_broker_error_keeps_the_producer() -> None:
    factory = FakeFactory(send_errors=[NotLeaderForPartitionError()])
    pub = publisher(factory)

    with pytest.raises(PublishError, match="refused"):
        pub.publish("t", b"k", b"v")
    pub.publish("t", b"k", b"v")

    assert len(factory.built) == 1


def test_fatal_producer_error_rebuilds_the_producer() -> None:
    factory = FakeFactory(send_errors=[IllegalStateError("producer fenced")])
    pub = publisher(factory)

    with pytest.raises(PublishError):
        pub.publish("t", b"k", b"v")
    pub.publish("t", b"k", b"v")

    assert len(factory.built) == 2
    assert factory.built[0].closed.wait(5)
    assert factory.built[1].sent == [("t", b"k", b"v")]


def test_close_closes_the_producer_and_refuses_further_events() -> None:
    factory = FakeFactory()
    pub = publisher(factory)
    pub.publish("t", b"k", b"v")

    pub.close()

    assert factory.built[0].closed.is_set()
    with pytest.raises(PublishError, match="closed"):
        pub.publish("t", b"k", b"v")


def test_close_before_any_publish_builds_nothing() -> None:
    factory = FakeFactory()
    publisher(factory).close()

    assert factory.budgets == []


def test_a_slow_connect_holds_back_others_only_until_their_own_deadline() -> None:
    connecting, release = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def slow_factory(timeout_s: float) -> FakeProducer:
        connecting.set()
        release.wait(5)
        raise KafkaConnectionError()

    def first_publish() -> None:
        try:
            pub.publish("t", b"k", b"v")
        except PublishError as exc:
            outcomes.append(exc.reason)

    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=0.3, producer_factory=slow_factory)
    first = threading.Thread(target=first_publish)
    first.start()
    assert connecting.wait(5)
    started = time.monotonic()
    try:
        with pytest.raises(PublishError, match="still connecting"):
            pub.publish("t", b"k", b"v")
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        first.join(5)
    assert outcomes == ["cannot reach Kafka at 127.0.0.1:9 (KafkaConnectionError)"]


def test_producer_config_bounds_every_wait_by_the_ack_timeout() -> None:
    config = producer_config(
        "k1:9092, k2:9092", client_id="handoff-ingest", ack_timeout_s=2.0, connect_timeout_s=1.5
    )

    assert config["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True
    assert config["retries"] > 0
    assert 0 < config["linger_ms"] <= 10
    assert config["max_block_ms"] == 2000
    assert config["request_timeout_ms"] <= 2000
    assert config["reconnect_backoff_max_ms"] <= 2000
    assert config["bootstrap_timeout_ms"] == 1500
    # kafka-python refuses delivery_timeout_ms <= linger_ms + request_timeout_ms
    assert config["delivery_timeout_ms"] > config["linger_ms"] + config["request_timeout_ms"]
    assert config["delivery_timeout_ms"] <= 2000 + 10


@pytest.mark.parametrize(
    ("bootstrap", "addresses"),
    [
        ("127.0.0.1:9092", [("127.0.0.1", 9092)]),
        ("kafka:9092, kafka-2:9093", [("kafka", 9092), ("kafka-2", 9093)]),
        ("kafka", [("kafka", 9092)]),
        ("[::1]:19092", [("::1", 19092)]),
        ("[::1]", [("::1", 9092)]),
    ],
)
def test_bootstrap_addresses(bootstrap: str, addresses: list[tuple[str, int]]) -> None:
    assert bootstrap_addresses(bootstrap) == addresses


@pytest.mark.parametrize("bootstrap", ["", " , ", "kafka:ninety"])
def test_a_malformed_bootstrap_is_refused_when_the_publisher_is_built(bootstrap: str) -> None:
    with pytest.raises(ValueError, match="Kafka bootstrap"):
        KafkaPublisher(bootstrap, ack_timeout_s=1)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_probe_tcp_passes_when_one_address_listens(listening_port: int, closed_port: int) -> None:
    probe_tcp(f"127.0.0.1:{closed_port},127.0.0.1:{listening_port}", timeout_s=2)


def test_probe_tcp_fails_fast_on_a_closed_port(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(OSError, match=re.escape(f"127.0.0.1:{closed_port}")):
        probe_tcp(f"127.0.0.1:{closed_port}", timeout_s=5)
    assert time.monotonic() - started < 1


def test_real_publisher_on_a_closed_port_fails_fast_and_reports_unhealthy(closed_port: int) -> None:
    pub = KafkaPublisher(f"127.0.0.1:{closed_port}", ack_timeout_s=2)
    started = time.monotonic()

    with pytest.raises(PublishError, match="cannot reach Kafka"):
        pub.publish("handoff.ingest.support", b"k", b"v")
    health = pub.check()

    assert time.monotonic() - started < 2
    assert health.reachable is False
    assert f"127.0.0.1:{closed_port}" in health.detail
    pub.close()
