"""Asking Kafka whether ingest can work now, and whether a producer is stuck.

A TCP probe fails fast; :func:`cluster` and :func:`topics` are one round trip each on
a short-lived admin client, all within a timeout; :func:`lost_producer_id` reads a
kafka-python producer's state without touching it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from kafka.net.compat import KafkaNetClient
from kafka.producer.transaction_manager import TransactionState

from services.kafka_admin import probe_tcp


@dataclass(frozen=True)
class BrokerHealth:
    reachable: bool
    detail: str


def built_with_cleanup(cls: Callable[..., Any], config: dict[str, Any]) -> Any:
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


def servers(bootstrap: str) -> list[str]:
    return [part.strip() for part in bootstrap.split(",") if part.strip()]


def cluster(bootstrap: str, client_id: str, timeout_s: float) -> BrokerHealth:
    """Whether the cluster describes itself (a real round trip)."""
    try:
        described = _with_admin(bootstrap, client_id, timeout_s, lambda a: a.describe_cluster())
    except (KafkaError, OSError) as exc:
        return BrokerHealth(False, f"cannot reach Kafka at {bootstrap} ({exc})")
    brokers = len(described.get("brokers", []))
    return BrokerHealth(True, f"Kafka at {bootstrap} answers ({brokers} broker(s))")


def topics(
    bootstrap: str, client_id: str, timeout_s: float, names: tuple[str, ...]
) -> BrokerHealth:
    """Metadata for ``names``: each topic there, each of its partitions with a leader."""
    try:
        described = _with_admin(
            bootstrap, client_id, timeout_s, lambda a: a.describe_topics(list(names))
        )
    except (KafkaError, OSError) as exc:
        return BrokerHealth(False, f"cannot reach Kafka at {bootstrap} ({exc})")
    unled = [t.get("name") for t in described if not _led(t)]
    if unled:
        return BrokerHealth(False, f"Kafka answers, but no leader for (a partition of) {unled}")
    return BrokerHealth(True, f"Kafka answers with leaders for {len(described)} topic(s)")


def lost_producer_id(producer: object) -> bool:
    """Whether an idempotent kafka-python producer is READY without a producer id.

    kafka-python 3.0.12 leaves it so after ``TransactionManager.reset_producer_id()``
    (a batch it had sent expired) and never leaves that state: its sender waits for
    a producer id nobody asks for. Any other producer (or library version) is False.
    """
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None:
        return False
    try:
        ready = manager._current_state == TransactionState.READY
        return bool(ready and not manager.is_transactional() and not manager.has_producer_id())
    except AttributeError:
        return False


def _with_admin(bootstrap: str, client_id: str, timeout_s: float, ask: Callable[[Any], Any]) -> Any:
    deadline = time.monotonic() + timeout_s
    probe_tcp(bootstrap, timeout_s)
    budget_ms = max(1, int((deadline - time.monotonic()) * 1000))
    admin = built_with_cleanup(
        KafkaAdminClient,
        {
            "bootstrap_servers": servers(bootstrap),
            "client_id": f"{client_id}-health",
            "bootstrap_timeout_ms": budget_ms,
            "request_timeout_ms": budget_ms,
        },
    )
    try:
        return ask(admin)
    finally:
        admin.close()


def _led(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    leaders = [p.get("leader_id", p.get("leader", -1)) for p in partitions]
    return topic.get("error_code", 0) == 0 and bool(leaders) and min(leaders) >= 0
