"""``JoinWatch`` on the real broker: a member that is in its group with no partitions (more
API replicas than partitions) is not taken for a stalled join, however small the bound.

The stalled join itself (kafka-python 3.0.12 against Kafka 4.4: no partitions, no error)
could not be produced on demand; its rules are in the unit test of the same name. What
its messages say of the join is read here from a real consumer's coordinator."""

from __future__ import annotations

import time
import uuid

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from services.api.consumer import JoinWatch, join_state


def test_a_member_in_its_group_without_partitions_is_not_stalled(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    topic, group = f"join-watch-{run}", f"join-watch-{run}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    consumers = [
        KafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        for _ in range(2)
    ]
    watches = [JoinWatch(group, warn_s=0.0, limit_s=0.5) for _ in consumers]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for consumer in consumers:
                consumer.poll(timeout_ms=200)
            sizes = sorted(len(c.assignment()) for c in consumers)
            if sizes == [0, 1] and all(c._coordinator.state == "<stable>" for c in consumers):
                break
        assert sorted(len(c.assignment()) for c in consumers) == [0, 1]
        idle = next(c for c in consumers if not c.assignment())
        # what the stall's messages say is read from kafka-python's coordinator, by name
        where = join_state(idle)
        assert where.startswith("state <stable>, coordinator "), where
        assert "?" not in where, where
        assert "member -" not in where, where
        assert where.endswith("rejoin needed False, join in flight False"), where
        watch = watches[consumers.index(idle)]
        until = time.monotonic() + 2.0  # four times the bound
        while time.monotonic() < until:
            for consumer in consumers:
                consumer.poll(timeout_ms=100)
            watch.check(idle)  # raises JoinStalledError if taken for a stalled join
    finally:
        for consumer in consumers:
            consumer.close()
