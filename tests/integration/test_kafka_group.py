"""Group consumers join once, with their partitions (services/kafka_group.py).

Subscribed by name alone, kafka-python 3.0.12 joins before its topics' metadata is back:
the leader assigns nothing and the group rebalances again (generation 2) when it lands,
and that second join is where CI's consumers stalled (issue 10). Here each consumer the
services build, on the real broker, gets every partition of its topics in generation 1
and stays there. Without the wait in ``subscribed`` 14 of 15 such joins reached
generation 2 on this machine.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from schemas import topics
from services.api.consumer import PROJECTED, ProjectorConfig, kafka_consumer
from services.api.tracker import TrackerConfig, _consumer, source_topics
from services.kafka_admin import ensure_handoff_topics
from tests.processes import SHARED_PARTITIONS

Factory = Callable[[str, str], KafkaConsumer]


def projector(bootstrap: str, group: str) -> KafkaConsumer:
    return kafka_consumer(ProjectorConfig(bootstrap=bootstrap, group_id=group))


def tracker(bootstrap: str, group: str) -> KafkaConsumer:
    return _consumer(TrackerConfig(bootstrap=bootstrap, team="join-once", group_id=group))


@pytest.mark.parametrize(
    ("factory", "names"),
    [(projector, list(PROJECTED)), (tracker, source_topics("join-once"))],
    ids=["projector", "tracker"],
)
def test_a_group_consumer_gets_its_partitions_in_its_first_generation(
    kafka_bootstrap: str, factory: Factory, names: list[str]
) -> None:
    ensure_handoff_topics(kafka_bootstrap, ["join-once"], SHARED_PARTITIONS)
    probe = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        expected = {TopicPartition(n, p) for n in names for p in probe.partitions_for_topic(n)}
    finally:
        probe.close()
    assert topics.SLA in names
    for _ in range(3):
        consumer = factory(kafka_bootstrap, f"join-once-{uuid.uuid4().hex[:8]}")
        try:
            deadline = time.monotonic() + 30
            while not consumer.assignment() and time.monotonic() < deadline:
                consumer.poll(timeout_ms=250)
            settle = time.monotonic() + 1.5  # a second rebalance would begin here
            while time.monotonic() < settle:
                consumer.poll(timeout_ms=250)
            assert consumer.assignment() == expected
            assert consumer._coordinator._generation.generation_id == 1
        finally:
            consumer.close(autocommit=False)
