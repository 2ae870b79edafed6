"""kafka-python group consumers that join their group once, with their partitions.

Subscribed by topic name, kafka-python (3.0.12) sends its first JoinGroup before the
metadata of those topics has come back, so the group's leader assigns nothing ("No
partition metadata for topic …") and the group rebalances a second time when the
metadata lands. That second join is where consumers were seen to stall: the broker's log
shows the JoinGroup and SyncGroup answered, then no heartbeat until the session expired,
and the consumer never got its partitions (issue 10; CI failed on it twice in
test_tracker_way_back). Waiting for the topics' metadata after
subscribing and before the first poll makes the first join the only one: one generation
in 20 joins of 20 here, against two generations in 14 of 15 without.

kafka-python also backs off between connection attempts up to ``reconnect_backoff_max_ms``,
30 s by default: a consumer that polled through a 20 s broker outage read its first record
36–50 s after the broker was back (3 runs); with 1 s, 0.2–0.6 s. Every long-lived client
of the services caps it (:data:`RECONNECT_BACKOFF_MAX_MS`); the CLIs' short-lived ones
keep the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer

RECONNECT_BACKOFF_MAX_MS = 1000  # back within a second of the broker (the default is 30 s)


def group_consumer(
    names: Sequence[str], *, bootstrap: str | list[str], group_id: str, **settings: Any
) -> KafkaConsumer:
    """A consumer of ``group_id`` on ``names`` that commits by hand and starts at earliest.

    ``settings`` are kafka-python's (client id, session timeout, ...)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        **settings,
    )
    return subscribed(consumer, names)


def subscribed(consumer: KafkaConsumer, names: Sequence[str]) -> KafkaConsumer:
    """``consumer`` subscribed to ``names``, their partitions known before it joins.

    A topic that does not exist yet is left to the subscription, as without this wait.
    When the broker cannot be reached this raises kafka-python's ``KafkaError`` at once
    (connection refused), after closing the consumer."""
    try:
        consumer.subscribe(list(names))
        for name in names:
            consumer.partitions_for_topic(name)  # waits for the subscription's metadata
    except BaseException:
        consumer.close(autocommit=False)
        raise
    return consumer
