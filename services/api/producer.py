"""A kafka-python producer that waits for the broker's acknowledgement of every message."""

from __future__ import annotations

import logging
import threading

from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.core.errors import HandoffError
from services.kafka_group import RECONNECT_BACKOFF_MAX_MS

log = logging.getLogger(__name__)


class PublishError(HandoffError):
    """The broker did not acknowledge a message in time (or could not be reached)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{topic}: {reason}")
        self.topic = topic
        self.reason = reason


class AckedProducer:
    """``acks="all"``, idempotent; ``send`` returns only once the broker has the message.

    The underlying producer is built on first use, so a service starts (and
    answers 503 for what needs Kafka) while the broker is unreachable.
    """

    def __init__(self, bootstrap: str, *, client_id: str, ack_timeout_s: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._timeout_s = ack_timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self, topic: str) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self._timeout_s * 1000)
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self._bootstrap,
                        client_id=self._client_id,
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=0,
                        max_block_ms=timeout_ms,
                        bootstrap_timeout_ms=timeout_ms,
                        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                    )
                except KafkaError as exc:
                    raise PublishError(topic, f"broker unreachable ({exc!r})") from exc
            return self._producer

    def send(self, topic: str, *, key: bytes | None, value: bytes) -> None:
        """Send one message and wait for ``acks=all``; raise :class:`PublishError` otherwise."""
        producer = self._get(topic)
        try:
            producer.send(topic, key=key, value=value).get(timeout=self._timeout_s)
        except KafkaError as exc:
            raise PublishError(topic, f"no acknowledgement ({exc!r})") from exc

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self._timeout_s)
            except KafkaError:
                log.warning("closing the Kafka producer %s failed", self._client_id, exc_info=True)
