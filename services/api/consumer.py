"""The projector's Kafka consumer: how it is built, and committing and closing it safely."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition

from schemas import topics
from services.kafka_group import group_consumer

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
    return group_consumer(
        PROJECTED,
        bootstrap=config.bootstrap,
        group_id=config.group_id,
        partition_assignment_strategy=[RangePartitionAssignor],  # partition N of both, together
        client_id=config.client_id,
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


JOIN_WARN_S: Final = 10.0  # no partitions and not in the group this long: say so
JOIN_LIMIT_S: Final = 30.0  # ... this long: a new consumer joins instead


class JoinStalledError(RuntimeError):
    """The consumer has neither partitions nor a place in its group after ``JOIN_LIMIT_S``."""


@dataclass
class JoinWatch:
    """Bounds a group join that never ends (seen once in a while with kafka-python 3.0.12
    against Kafka 4.4: no partitions, no error, nothing logged): a warning after
    ``warn_s``, then :class:`JoinStalledError` after ``limit_s`` so the caller builds a new
    consumer. A member that is in the group with no partitions (more replicas than
    partitions) is not stalled, nor is one with partitions. A join that ends normally takes
    well under a second with one member, a few seconds with several (each rejoins at its
    next poll), so 30 s replaces only a stalled one; a replaced member leaves its group
    first. Both messages say where the coordinator's join stands."""

    group_id: str
    warn_s: float = JOIN_WARN_S
    limit_s: float = JOIN_LIMIT_S
    clock: Callable[[], float] = time.monotonic
    _since: float | None = field(default=None, init=False)
    _warned: bool = field(default=False, init=False)

    def check(self, consumer: Any) -> None:
        if consumer.assignment() or _in_group(consumer):
            self._since, self._warned = None, False
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        waited = now - self._since
        if waited >= self.limit_s:
            raise JoinStalledError(
                f"group {self.group_id}: no partitions after {waited:.0f} s "
                f"({join_state(consumer)}); a new consumer joins"
            )
        if waited >= self.warn_s and not self._warned:
            self._warned = True
            log.warning(
                "projector: group %s has given this consumer no partitions for %.0f s (%s); "
                "a new consumer joins after %.0f s",
                self.group_id, waited, join_state(consumer), self.limit_s,
            )  # fmt: skip


def _in_group(consumer: Any) -> bool:
    """Whether the consumer is a stable member of its group (kafka-python's coordinator)."""
    coordinator = getattr(consumer, "_coordinator", None)
    return bool(getattr(coordinator, "state", None) == MemberState.STABLE)


def join_state(consumer: Any) -> str:
    """Where kafka-python's coordinator stands in its join, for the operator and the next
    bug report: its state, the coordinator broker, the generation and member id, whether it
    wants to rejoin and whether a JoinGroup is in flight."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None:
        return "no coordinator"
    generation = getattr(coordinator, "_generation", None)
    task = getattr(coordinator, "_join_task", None)
    return (
        f"state {getattr(coordinator, 'state', '?')}, "
        f"coordinator {getattr(coordinator, 'coordinator_id', '?')}, "
        f"generation {getattr(generation, 'generation_id', '?')}, "
        f"member {getattr(generation, 'member_id', '?') or '-'}, "
        f"rejoin needed {getattr(coordinator, 'rejoin_needed', '?')}, "
        f"join in flight {task is not None and not getattr(task, 'is_done', True)}"
    )
