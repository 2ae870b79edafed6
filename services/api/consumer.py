"""The projector's Kafka consumer: how it is built, and committing and closing it safely."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from schemas import topics

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, OffsetAndMetadata]
PROJECTED = (topics.ROUTED, topics.SLA)  # what the projector reads


@dataclass(frozen=True)
class ProjectorConfig:
    bootstrap: str
    group_id: str
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 2000
    poll_timeout_ms: int = 250
    max_poll_records: int = 200
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    client_id: str = "handoff-api-projector"
    default_locale: str = "en"  # the language of the router's answers when the asker's is unknown


def kafka_consumer(config: ProjectorConfig) -> KafkaConsumer:
    return KafkaConsumer(
        *PROJECTED,
        partition_assignment_strategy=[RangePartitionAssignor],  # partition N of both, together
        bootstrap_servers=config.bootstrap,
        group_id=config.group_id,
        client_id=config.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=config.heartbeat_interval_ms,
        max_poll_records=config.max_poll_records,
        bootstrap_timeout_ms=max(2000, config.session_timeout_ms),
    )


def commit_offsets(consumer: KafkaConsumer, offsets: Offsets) -> None:
    try:
        consumer.commit(offsets)
    except KafkaError:
        # The rows are in the database; redelivery after a rebalance is harmless.
        log.warning("committing offsets failed; the messages will be redelivered", exc_info=True)


def close_consumer(consumer: KafkaConsumer) -> None:
    try:
        consumer.close(autocommit=False)
    except Exception:
        log.warning("closing the projector's consumer failed", exc_info=True)


class StartAt:
    """Where each partition a group never committed starts: ``HANDOFF_API_OFFSET_RESET=latest``
    gives the end offsets read before the API served. The consumer itself starts such a
    partition at its beginning; the records before the start are skipped here, once per
    partition and consumer (afterwards the group has committed it, or it is not ours).
    No other client touches the group, so its consumer joins as with ``earliest``."""

    def __init__(self, ends: Mapping[TopicPartition, int]) -> None:
        self._ends = dict(ends)
        self._checked: set[TopicPartition] = set()

    def forget(self) -> None:
        """A new consumer: check each partition again."""
        self._checked.clear()

    def records(
        self, consumer: KafkaConsumer, tp: TopicPartition, records: list[Any], done: Offsets
    ) -> list[Any]:
        """``records`` from the start on (all of them once the group committed ``tp``)."""
        start = self._ends.get(tp)
        if start is None or tp in self._checked:
            return records
        self._checked.add(tp)
        try:
            if consumer.committed(tp, timeout_ms=5000) is not None:
                return records
        except KafkaError as exc:  # reading the backlog again is harmless (ids)
            log.warning("projector: no committed offset for %s (%s): reading it all", tp, exc)
            return records
        kept = [record for record in records if record.offset >= start]
        if len(kept) < len(records):
            log.info("projector: %s starts at offset %d (latest)", tp, start)
        if not kept:
            consumer.seek(tp, start)
            done[tp] = OffsetAndMetadata(start, "", -1)
        return kept
