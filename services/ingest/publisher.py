"""Handing events to Kafka: the ``EventPublisher`` port and its kafka-python adapter.

``publish`` returns only once the broker acknowledged the record (``acks="all"``,
idempotent producer) and raises :class:`PublishError` when it did not within the
ack timeout. The producer is built on first use and rebuilt after a fatal error,
so the service starts while Kafka is down, answers 503 meanwhile and recovers
when Kafka comes back. Everything here blocks: call it from a thread pool.

A producer can also wedge without any error: kafka-python 3.0.12's idempotent
producer, when a batch it had already sent expires (the broker went away while
records were in flight -- concurrent publishes during an outage), calls
``TransactionManager.reset_producer_id()``, which clears the producer id but leaves
the state ``READY``; ``init_producer_id()`` acts only in ``UNINITIALIZED`` (a state
the library never lets it return to), so no new id is ever asked for and the
sender holds back every batch until it expires. Nothing in it recovers, however
long the broker has been back. So a producer is rebuilt (closed in the background,
a fresh one built by the next publish) when it is seen in that state
(:func:`lost_producer_id`), and -- for wedges not yet known -- when it has not
delivered for ``WEDGED_AFTER_ACK_TIMEOUTS`` ack timeouts while the broker answers.
Rebuilding is safe: a record is acknowledged to the caller only after the broker
acknowledged it, so whatever the old producer still held was answered 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from services.core.errors import HandoffError
from services.ingest import probes
from services.ingest.probes import BrokerHealth, built_with_cleanup, servers
from services.kafka_admin import bootstrap_addresses, probe_tcp
from services.kafka_group import RECONNECT_BACKOFF_MAX_MS

__all__ = [
    "BrokerHealth",
    "EventPublisher",
    "KafkaPublisher",
    "PublishError",
    "bootstrap_addresses",
    "probe_tcp",
    "producer_config",
]

log = logging.getLogger(__name__)

LINGER_MS = 5
HEALTH_CACHE_S = 1.0
WEDGED_AFTER_ACK_TIMEOUTS = 2.0


class PublishError(HandoffError):
    """The broker did not acknowledge an event in time (or could not be reached)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{topic}: {reason}")
        self.topic = topic
        self.reason = reason


class EventPublisher(Protocol):
    """Where ingest hands its events; blocking, so call it from a thread pool."""

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Return once the broker acknowledged the record; raise PublishError otherwise."""

    def check(self) -> BrokerHealth:
        """Whether the broker answers now."""

    def ready(self, max_age_s: float) -> BrokerHealth:
        """Whether events can be delivered now: one was, within ``max_age_s``, or a probe
        of the topics succeeds (and the producer is not known to be stuck)."""

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
        "bootstrap_servers": servers(bootstrap),
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


class KafkaPublisher:
    """``EventPublisher`` on a kafka-python ``KafkaProducer`` (acks=all, idempotent)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        ack_timeout_s: float,
        client_id: str = "handoff-ingest",
        producer_factory: ProducerFactory | None = None,
        probe_topics: tuple[str, ...] = (),
    ) -> None:
        bootstrap_addresses(bootstrap)  # a malformed address fails at start, not per event
        self.bootstrap = bootstrap
        self.ack_timeout_s = ack_timeout_s
        self.topics = probe_topics  # what ``ready`` asks metadata for
        self._client_id = client_id
        self._factory = producer_factory or self._connect
        self._producer: Producer | None = None
        self._built_at = 0.0
        self._lock = threading.Lock()
        self._closed = False
        self._health_lock = threading.Lock()
        self._last_health: tuple[float, BrokerHealth] | None = None
        self._delivered_at: float | None = None
        self._failing_since: float | None = None  # the first failure since the last ack
        self._watching = threading.Lock()
        self._closing: list[threading.Thread] = []

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            self._deliver(topic, key, value, time.monotonic() + self.ack_timeout_s)
        except PublishError:
            self._failing_since = self._failing_since or time.monotonic()
            raise
        self._delivered_at, self._failing_since = time.monotonic(), None

    def check(self) -> BrokerHealth:
        """Ask the cluster to describe itself (a real round trip), at most once a second."""
        with self._health_lock:
            now = time.monotonic()
            if self._last_health and now - self._last_health[0] < HEALTH_CACHE_S:
                return self._last_health[1]
            health = probes.cluster(self.bootstrap, self._client_id, self.ack_timeout_s)
            self._last_health = (time.monotonic(), health)
            return health

    def ready(self, max_age_s: float) -> BrokerHealth:
        producer = self._producer
        if producer is not None and probes.lost_producer_id(producer):
            self._discard(producer, "it lost its producer id")
            return BrokerHealth(False, "the Kafka producer was stuck; the next event rebuilds it")
        delivered = self._delivered_at
        if delivered is not None and self._failing_since is None:
            age = time.monotonic() - delivered
            if age <= max_age_s:
                return BrokerHealth(True, f"an event was acknowledged {age:.1f}s ago")
        return probes.topics(self.bootstrap, self._client_id, self.ack_timeout_s, self.topics)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is not None:
            _close_quietly(producer, self.ack_timeout_s)
        self._await_discarded()

    def _await_discarded(self) -> None:
        """Wait for the producers discarded earlier to finish closing (bounded)."""
        for closing in self._closing:
            closing.join(self.ack_timeout_s * 3)

    def _deliver(self, topic: str, key: bytes, value: bytes, deadline: float) -> None:
        producer = self._unwedged(self._producer_until(deadline, topic), deadline, topic)
        try:
            producer.send(topic, key=key, value=value).get(timeout=_remaining(deadline))
        except KafkaTimeoutError as exc:
            self._after_failure(producer)
            raise PublishError(
                topic, f"Kafka did not acknowledge within {self.ack_timeout_s:g}s ({exc})"
            ) from exc
        except KafkaError as exc:
            if exc.retriable:
                self._after_failure(producer)
            else:
                self._discard(producer)
            raise PublishError(topic, f"Kafka refused the event ({exc!r})") from exc

    def _producer_until(self, deadline: float, topic: str) -> Producer:
        if (producer := self._producer) is not None:
            return producer
        if not self._lock.acquire(timeout=_remaining(deadline)):
            raise PublishError(topic, "still connecting to Kafka; no acknowledgement in time")
        try:
            if self._closed:
                raise PublishError(topic, "the publisher is closed")
            if self._producer is None:
                self._producer, self._built_at = self._built(deadline, topic), time.monotonic()
            return self._producer
        finally:
            self._lock.release()

    def _built(self, deadline: float, topic: str) -> Producer:
        try:
            return self._factory(_remaining(deadline))
        except (KafkaError, OSError) as exc:
            raise PublishError(topic, f"cannot reach Kafka at {self.bootstrap} ({exc})") from exc

    def _unwedged(self, producer: Producer, deadline: float, topic: str) -> Producer:
        if not probes.lost_producer_id(producer):
            return producer
        self._discard(producer, "it lost its producer id")
        return self._producer_until(deadline, topic)

    def _after_failure(self, producer: Producer) -> None:
        """Rebuild a producer that is stuck, or that fails for long while the broker answers."""
        if probes.lost_producer_id(producer):
            self._discard(producer, "it lost its producer id")
        elif self._stuck() and self._watching.acquire(blocking=False):
            # one check at a time, off the caller's thread (it answers 503 meanwhile)
            threading.Thread(
                target=self._rebuild_if_broker_answers, args=(producer,), daemon=True
            ).start()

    def _stuck(self) -> bool:
        """No ack for ``WEDGED_AFTER_ACK_TIMEOUTS`` ack timeouts, from this very producer."""
        since = max(self._failing_since or time.monotonic(), self._built_at)
        return time.monotonic() - since >= WEDGED_AFTER_ACK_TIMEOUTS * self.ack_timeout_s

    def _rebuild_if_broker_answers(self, producer: Producer) -> None:
        try:
            if self._producer is producer and self.check().reachable:
                self._discard(producer, "the broker answers, yet nothing was acknowledged")
        finally:
            self._watching.release()

    def _discard(self, producer: Producer, why: str = "a fatal error") -> None:
        with self._lock:
            if self._producer is not producer:
                return  # another thread discarded it already
            self._producer = None
        log.warning("discarding the Kafka producer (%s); the next event rebuilds it", why)
        # Closing waits for its other pending records (bounded by their delivery timeout).
        closing = threading.Thread(
            target=_close_quietly, args=(producer, self.ack_timeout_s), daemon=True
        )
        closing.start()
        self._closing = [t for t in self._closing if t.is_alive()] + [closing]

    def _connect(self, timeout_s: float) -> Producer:
        deadline = time.monotonic() + timeout_s
        probe_tcp(self.bootstrap, timeout_s)
        config = producer_config(
            self.bootstrap,
            client_id=self._client_id,
            ack_timeout_s=self.ack_timeout_s,
            connect_timeout_s=_remaining(deadline),
        )
        producer: Producer = built_with_cleanup(KafkaProducer, config)
        return producer


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _close_quietly(producer: Producer, timeout_s: float, attempts: int = 3) -> None:
    """Close, trying again while its records still wait: kafka-python's ``close`` raises
    (and leaves its sender thread running) when a flush does not finish in time, and a
    discarded producer's records need up to their delivery timeout to fail."""
    for attempt in range(1, attempts + 1):
        try:
            producer.close(timeout=timeout_s)
            return
        except KafkaError:
            if attempt == attempts:
                log.warning("closing the Kafka producer failed; forcing it", exc_info=True)
    _force_close(producer, timeout_s)


def _force_close(producer: Producer, timeout_s: float) -> None:
    """Stop a producer whose ``close`` keeps failing, dropping what it still holds.

    kafka-python raises from ``close``'s flush before reaching its own force-close,
    so without this the sender thread and its connections would try a broker that
    is gone for as long as the process lives. What it held was answered 503.
    """
    sender = getattr(producer, "_sender", None)
    if sender is None:
        return
    sender.force_close()  # aborts the pending batches, then closes the network client
    sender.join(timeout_s)
