"""A worker taking over partitions resumes at the committed offset, also when that is 0 or none.

Issue 10, scenario 1 (two workers, ``kill -9`` x 10): the survivor of the first
kill took over partitions whose committed offset was 0 (a new group's inputs,
pinned at their empty end) or absent (the router's own ``-groups`` topic before
its first commit). Records fetched while Faust restored the tables had moved
the consumer's position to the partition's end; Faust's "seek stream partitions
to committed offsets" goes through aiokafka's ``seek_to_committed``, which only
seeks ``if offset and offset > 0`` (https://github.com/aio-libs/aiokafka/issues/1003),
so the survivor went on from the end: 955 of 20,000 events consumed, committed
past, never routed. These tests run Faust's own ``perform_seek`` of the router
app's consumer over aiokafka's own ``seek_to_committed``; only the broker (the
committed offsets, the log starts, the fetch positions) is played here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from schemas import topics
from services.router.seeking import rewind, unpositioned
from tests.unit.services.router.conftest import APP_ID, Router

pytestmark = pytest.mark.anyio

SUPPORT_EMPTY_AT_START = TopicPartition(topics.INGEST_SUPPORT, 2)  # committed 0
SUPPORT_COMMITTED = TopicPartition(topics.INGEST_SUPPORT, 3)  # committed 120
GROUPS_NEVER = TopicPartition(topics.router_topic(APP_ID, topics.ROUTER_GROUPS), 3)  # no commit
CHANGELOG = TopicPartition(f"{APP_ID}-accounts_to_requests-changelog", 2)  # Faust's own


@dataclass
class Broker:
    """What the consumer's broker holds, and where the consumer's fetches stand."""

    committed: dict[TopicPartition, int | None]
    positions: dict[TopicPartition, int]
    starts: dict[TopicPartition, int] = field(default_factory=dict)


@dataclass
class AiokafkaSide:
    """The consumer thread's calls, made on aiokafka's ``AIOKafkaConsumer`` code where it
    matters (``seek_to_committed``), over ``Broker``."""

    broker: Broker
    _subscription: Any = None
    _fetcher: Any = None
    faust: Any = None  # the Faust consumer this plays the thread of (its read offsets)

    def __post_init__(self) -> None:
        assigned = set(self.broker.committed)
        self._subscription = type("Sub", (), {"assigned_partitions": lambda _: assigned})()
        self._fetcher = type("Fetch", (), {"seek_to": lambda _, tp, o: self.seek(tp, o)})()

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.broker.committed[tp]

    async def seek_to_committed(self) -> Mapping[TopicPartition, int | None]:
        result: Mapping[TopicPartition, int | None] = await AIOKafkaConsumer.seek_to_committed(
            self  # type: ignore[arg-type]
        )
        return result

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.broker.positions[tp] = offset

    async def seek_wait(self, partitions: Mapping[TopicPartition, int]) -> None:
        """As the consumer thread's: seek, and Faust's read offset follows."""
        for tp, offset in partitions.items():
            self.seek(tp, offset)
            if self.faust is not None:
                self.faust._read_offset[tp] = offset if offset > 0 else None

    async def earliest_offsets(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        return {tp: self.broker.starts.get(tp, 0) for tp in tps}


@dataclass
class FaustSide:
    """Faust's consumer over the thread: its seeks are coroutines."""

    thread: AiokafkaSide

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        self.thread.seek(tp, offset)

    async def earliest_offsets(self, *tps: TopicPartition) -> dict[TopicPartition, int]:
        return await self.thread.earliest_offsets(*tps)


def taken_over() -> Broker:
    """The survivor's partitions after the restore, before Faust's seek: each fetched to
    its end meanwhile (276, 295, 291 records; the changelog read by the recovery)."""
    return Broker(
        committed={SUPPORT_EMPTY_AT_START: 0, SUPPORT_COMMITTED: 120, GROUPS_NEVER: None,
                   CHANGELOG: None},
        positions={SUPPORT_EMPTY_AT_START: 276, SUPPORT_COMMITTED: 295, GROUPS_NEVER: 291,
                   CHANGELOG: 66},
        starts={GROUPS_NEVER: 0},
    )  # fmt: skip


async def test_a_takeover_resumes_every_stream_partition_at_its_committed_offset(
    router: Router,
) -> None:
    broker = taken_over()
    consumer = router.app.consumer
    thread, consumer._thread = consumer._thread, AiokafkaSide(broker)
    try:
        await consumer.perform_seek()  # Faust's "Seek stream partitions to committed offsets"
    finally:
        consumer._thread = thread

    assert broker.positions[SUPPORT_EMPTY_AT_START] == 0  # was 276: 0-275 would be skipped
    assert broker.positions[GROUPS_NEVER] == 0  # was 291
    assert broker.positions[SUPPORT_COMMITTED] == 120
    assert broker.positions[CHANGELOG] == 66  # the tables' changelogs are Faust's business


async def test_aiokafka_alone_leaves_a_committed_zero_where_the_fetches_got() -> None:
    """Why ``services.router.seeking`` exists: should aiokafka seek to 0 one day, this
    fails, and the rewind can go."""
    broker = taken_over()

    await AiokafkaSide(broker).seek_to_committed()

    assert broker.positions[SUPPORT_EMPTY_AT_START] == 276
    assert broker.positions[GROUPS_NEVER] == 291
    assert broker.positions[SUPPORT_COMMITTED] == 120


async def test_a_partition_never_committed_starts_at_its_first_offset() -> None:
    broker = Broker({GROUPS_NEVER: None}, {GROUPS_NEVER: 900}, starts={GROUPS_NEVER: 500})
    side = AiokafkaSide(broker)

    moved = await rewind(FaustSide(side), broker.committed, {GROUPS_NEVER.topic})

    assert moved == {GROUPS_NEVER: 500}  # its older records are gone (retention)
    assert broker.positions[GROUPS_NEVER] == 500


async def test_partitions_with_a_commit_are_left_where_the_seek_put_them() -> None:
    committed: dict[Any, int | None] = {SUPPORT_COMMITTED: 120, SUPPORT_EMPTY_AT_START: 0}

    assert unpositioned(committed, {topics.INGEST_SUPPORT}) == [SUPPORT_EMPTY_AT_START]
    assert unpositioned(committed, {topics.INGEST_SALES}) == []
