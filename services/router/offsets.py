"""Where the router's consumer group starts: raw inputs per the setting, the rest at the start.

``HANDOFF_ROUTER_OFFSET_RESET=latest`` means "route only what arrives from
now on" -- for the raw input topics (``handoff.ingest.*``) only. The router's
own topics (groups, accounts, clocks, capacity) and ``handoff.feedback``
carry work already accepted: a worker taking over a partition nobody had
committed yet must read it from the start, or decisions and clock stops
are skipped. Faust has one reset policy for every topic, so the app always
uses ``earliest``, and before the worker starts, each raw input partition
the group has no committed offset for is committed at its current end
(:func:`start_inputs_at_end`). No Faust here (kafka-python).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas import topics

log = logging.getLogger(__name__)

RAW_INPUTS: Final = (topics.INGEST_SUPPORT, topics.INGEST_SALES, topics.INGEST_CAPACITY)
EARLIEST: Final = "earliest"  # the Faust consumer's policy, whatever the setting
LATEST: Final = "latest"


def to_pin(
    committed: Mapping[TopicPartition, int | None], ends: Mapping[TopicPartition, int]
) -> dict[TopicPartition, OffsetAndMetadata]:
    """The partitions without a committed offset, each at its end."""
    return {
        tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items() if committed.get(tp) is None
    }


def start_position(
    setting: str, bootstrap: str, group: str, pin: Callable[[str, str], object] | None = None
) -> None:
    """Before the worker starts: with ``latest``, pin the raw inputs at their end."""
    if setting == LATEST:
        (pin or start_inputs_at_end)(bootstrap, group)


def start_inputs_at_end(
    bootstrap: str, group: str, inputs: Iterable[str] = RAW_INPUTS, timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """Commit the end offset of each raw input partition ``group`` never committed; what was
    pinned. A failure is logged and leaves those partitions at ``earliest``: routing a
    backlog twice is harmless (ids), skipping it is not."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        parts = _partitions(consumer, inputs)
        committed = {tp: consumer.committed(tp) for tp in parts}
        pinned = to_pin(committed, consumer.end_offsets(parts))
        if pinned:
            consumer.commit(pinned)
        return {tp: meta.offset for tp, meta in pinned.items()}
    except KafkaError as exc:
        log.warning("router: raw inputs left at earliest (could not pin them at the end): %s", exc)
        return {}
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, inputs: Iterable[str]) -> list[TopicPartition]:
    found = []
    for topic in inputs:
        for partition in sorted(consumer.partitions_for_topic(topic) or ()):
            found.append(TopicPartition(topic, partition))
    return found
