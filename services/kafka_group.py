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
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaConsumer


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
