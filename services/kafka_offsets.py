"""Start a consumer group at the end of its topics: "only what arrives from now on".

A consumer group that never committed starts where its reset policy says; a
policy of ``latest`` is only applied when the consumer first fetches, after it
joined its group, so whatever is produced in between is skipped. Committing
the end offsets for the group *before* its consumer starts makes "from now
on" exact: everything produced after this call is read. The router uses it
for its raw inputs (``HANDOFF_ROUTER_OFFSET_RESET``).

The API (``HANDOFF_API_OFFSET_RESET``) only reads the end offsets before it
serves (:func:`end_offsets`, no group involved) and its projector starts each
partition its group never committed there (``services.api.projector``): its
group is touched by nobody but its own consumer. kafka-python only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)


def to_pin(
    committed: Mapping[TopicPartition, int | None], ends: Mapping[TopicPartition, int]
) -> dict[TopicPartition, OffsetAndMetadata]:
    """The partitions without a committed offset, each at its end."""
    return {
        tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items() if committed.get(tp) is None
    }


def start_at_end(
    bootstrap: str, group: str, names: Iterable[str], timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """Commit the end offset of each partition of ``names`` that ``group`` never committed;
    what was pinned. A failure is logged and leaves those partitions to the group's reset
    policy: reading a backlog again is harmless (ids), skipping it is not."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        parts = _partitions(consumer, names)
        committed = {tp: consumer.committed(tp) for tp in parts}
        pinned = to_pin(committed, consumer.end_offsets(parts))
        if pinned:
            consumer.commit(pinned)
        return {tp: meta.offset for tp, meta in pinned.items()}
    except KafkaError as exc:
        log.warning("%s: left at the reset policy (could not pin at the end): %s", group, exc)
        return {}
    finally:
        consumer.close()


def end_offsets(
    bootstrap: str, names: Sequence[str], timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """The end offset of each partition of ``names`` now, read without a consumer group;
    empty when the broker cannot say (then nothing is skipped: ids make a replay harmless)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        return dict(consumer.end_offsets(_partitions(consumer, names)))
    except KafkaError as exc:
        log.warning("could not read the end offsets of %s: %s", ", ".join(names), exc)
        return {}
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    found = []
    for topic in names:
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, partition))
    return found
