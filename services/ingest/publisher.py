"""Handing events to Kafka: the ``EventPublisher`` port and its kafka-python adapter.

``publish`` returns only once the broker acknowledged the record (``acks="all"``,
idempotent producer) and raises :class:`PublishError` when it did not within the
ack timeout. The producer is built on first use and rebuilt after a fatal error,
so the service starts while Kafka is down, answers 503 meanwhile and recovers
when Kafka comes back. Everything here blocks: call it from a thread pool.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.net.compat import KafkaNetClient

from services.core.errors import HandoffError

log = logging.getLogger(__name__)

LINGER_MS = 5
RECONNECT_BACKOFF_MAX_MS = 1000  # back within a second of the broker (the default is 30 s)
DEFAULT_KAFKA_PORT = 9092
HEALTH_CACHE_S = 1.0


class PublishError(HandoffError):
    """The broker did not acknowledge an event in time (or could not be reached)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{topic}: {reason}")
        self.topic = topic
        self.reason = reason


@dataclass(frozen=True)
class BrokerHealth:
    reachable: bool
    detail: str


class EventPublisher(Protocol):
    """Where ingest hands its events; blocking, so call it from a thread pool."""

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return once the broker acknowledged the record; raise PublishError otherwise."""

    def check(self) -> BrokerHealth:
        """Whether the broker answers now."""

    def close(self) -> None:
        """Flush and release the connection."""


class RecordFuture(Protocol):
    def get(self, timeout: float | None = None) -> Any: ...


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` the publisher uses."""

    def send(self, topic: str, *, key: bytes, value: bytes) -> RecordFuture: ...

    def close(self, timeout: float | None = None) -> None: ...


ProducerFactory = Callable[[float], Producer]
"""Builds a connected producer within the given seconds, or raises KafkaError/OSError."""


def producer_config(
    bootstrap: str, *, client_id: str, ack_timeout_s: float, connect_timeout_s: float
) -> dict[str, Any]:
    """kafka-python settings: every wait the producer may do is bounded by the ack timeout."""
    ack_ms = max(1, int(ack_timeout_s * 1000))
    return {
        "bootstrap_servers": _servers(bootstrap),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "retries": 2**31 - 1,  # bounded by delivery_timeout_ms, as in the Java client
        "linger_ms": LINGER_MS,
        "max_block_ms": ack_ms,
        "delivery_timeout_ms": ack_ms + LINGER_MS + 1,
        "request_timeout_ms": ack_ms,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "bootstrap_timeout_ms": max(1, int(connect_timeout_s * 1000)),
    }


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``"a:9092,[::1]:9093"`` -> ``[("a", 9092), ("::1", 9093)]``."""
    addresses = []
    for item in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or "]" in port:  # no port given
            host, port = item, str(DEFAULT_KAFKA_PORT)
        if not port.isdigit():
            raise ValueError(f"Kafka bootstrap address {item!r} has no valid port")
        addresses.append((host.strip("[]"), int(port)))
    if not addresses:
        raise ValueError(f"no Kafka bootstrap address in {bootstrap!r}")
    return addresses


def probe_tcp(bootstrap: str, timeout_s: float) -> None:
    """Raise OSError unless one bootstrap address accepts a TCP connection in time.

    A cheap fail-fast before building a client: kafka-python 3.0.12 also leaves
    the socket of every refused bootstrap attempt to the garbage collector.
    """
    deadline = time.monotonic() + timeout_s
    failures = []
    for host, port in bootstrap_addresses(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=_remaining(deadline) or 0.001):
                return
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc}")
    raise OSError("; ".join(failures))


def _built_with_cleanup(cls: Callable[..., Any], config: dict[str, Any]) -> Any:
    """Build a kafka-python client; if it fails to bootstrap, close what it opened."""
    clients: list[KafkaNetClient] = []

    def client(**kwargs: Any) -> KafkaNetClient:
        clients.append(KafkaNetClient(**kwargs))
        return clients[-1]

    try:
        return cls(kafka_client=client, **config)
    except BaseException:
        for opened in clients:
            opened.close()
        raise


class KafkaPublisher:
    """``EventPublisher`` on a kafka-python ``KafkaProducer`` (acks=all, idempotent)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        ack_timeout_s: float,
        client_id: str = "handoff-ingest",
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        bootstrap_addresses(bootstrap)  # a malformed address fails at start, not per event
        self.bootstrap = bootstrap
        self.ack_timeout_s = ack_timeout_s
        self._client_id = client_id
        self._factory = producer_factory or self._connect
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._health_lock = threading.Lock()
        self._last_health: tuple[float, BrokerHealth] | None = None

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        deadline = time.monotonic() + self.ack_timeout_s
        producer = self._producer_until(deadline, topic)
        try:
            producer.send(topic, key=key, value=value).get(timeout=_remaining(deadline))
        except KafkaTimeoutError as exc:
            raise PublishError(
                topic, f"Kafka did not acknowledge within {self.ack_timeout_s:g}s ({exc})"
            ) from exc
        except KafkaError as exc:
            if not exc.retriable:
                self._discard(producer)
            raise PublishError(topic, f"Kafka refused the event ({exc!r})") from exc

    def check(self) -> BrokerHealth:
        """Ask the cluster to describe itself (a real round trip), at most once a second."""
        with self._health_lock:
            now = time.monotonic()
            if self._last_health and now - self._last_health[0] < HEALTH_CACHE_S:
                return self._last_health[1]
            health = self._probe()
            self._last_health = (time.monotonic(), health)
            return health

    def close(self) -> None:
        with self._lock:
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is not None:
            _close_quietly(producer, self.ack_timeout_s)

    def _producer_until(self, deadline: float, topic: str) -> Producer:
        if (producer := self._producer) is not None:
            return producer
        if not self._lock.acquire(timeout=_remaining(deadline)):
            raise PublishError(topic, "still connecting to Kafka; no acknowledgement in time")
        try:
            if self._closed:
                raise PublishError(topic, "the publisher is closed")
            if self._producer is None:
                try:
                    self._producer = self._factory(_remaining(deadline))
                except (KafkaError, OSError) as exc:
                    raise PublishError(
                        topic, f"cannot reach Kafka at {self.bootstrap} ({exc})"
                    ) from exc
            return self._producer
        finally:
            self._lock.release()

    def _discard(self, producer: Producer) -> None:
        with self._lock:
            if self._producer is producer:
                self._producer = None
        log.warning("discarding the Kafka producer after a fatal error; the next event rebuilds it")
        # Closing waits for its other pending records (bounded by their delivery timeout).
        threading.Thread(
            target=_close_quietly, args=(producer, self.ack_timeout_s), daemon=True
        ).start()

    def _connect(self, timeout_s: float) -> Producer:
        deadline = time.monotonic() + timeout_s
        probe_tcp(self.bootstrap, timeout_s)
        config = producer_config(
            self.bootstrap,
            client_id=self._client_id,
            ack_timeout_s=self.ack_timeout_s,
            connect_timeout_s=_remaining(deadline),
        )
        producer: Producer = _built_with_cleanup(KafkaProducer, config)
        return producer

    def _probe(self) -> BrokerHealth:
        deadline = time.monotonic() + self.ack_timeout_s
        try:
            probe_tcp(self.bootstrap, self.ack_timeout_s)
            budget_ms = max(1, int(_remaining(deadline) * 1000))
            admin = _built_with_cleanup(
                KafkaAdminClient,
                {
                    "bootstrap_servers": _servers(self.bootstrap),
                    "client_id": f"{self._client_id}-health",
                    "bootstrap_timeout_ms": budget_ms,
                    "request_timeout_ms": budget_ms,
                },
            )
            try:
                cluster = admin.describe_cluster()
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            return BrokerHealth(False, f"cannot reach Kafka at {self.bootstrap} ({exc})")
        brokers = len(cluster.get("brokers", []))
        return BrokerHealth(True, f"Kafka at {self.bootstrap} answers ({brokers} broker(s))")


def _servers(bootstrap: str) -> list[str]:
    return [part.strip() for part in bootstrap.split(",") if part.strip()]


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _close_quietly(producer: Producer, timeout_s: float) -> None:
    try:
        producer.close(timeout=timeout_s)
    except KafkaError:
        log.warning("closing the Kafka producer failed", exc_info=True)
