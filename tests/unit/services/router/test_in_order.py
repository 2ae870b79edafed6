"""Records reach Faust in offset order from where a partition was sought (issue 10's loss).

Rehearsal 24 and the reproduction loop lost one event in the router kill -9
scenario: ``handoff.ingest.support[2]`` was sought to 0 after a takeover, and a
record fetched before that seek (offset 54) arrived after it
(faust-streaming #221). Faust's ``_drain_messages`` takes any record at or after
its read offset and moves that offset to it, so it dropped the refetched 0-53 as
already read; 53 had never been handled, and Faust's commit goes past one
missing record (``min(acked) - committed > 1``). The first tests run Faust's own
``_drain_messages`` and ``getmany`` over a played consumer thread (the broker's
log and the fetch positions, with the stale batch handed first); the rest test
``InOrder``'s rules alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from faust.types import TP

from schemas import topics
from services.router.consuming import order_of
from services.router.seeking import DROP, HAND, SEEK, InOrder
from tests.unit.services.router.conftest import Router
from tests.unit.services.router.test_seeking import AiokafkaSide, Broker

pytestmark = pytest.mark.anyio

SUPPORT = TopicPartition(topics.INGEST_SUPPORT, 2)
CHANGELOG = TopicPartition("handoff-router-unit-accounts_to_requests-changelog", 2)
LOG_END = 60  # the partition holds offsets 0-59
STALE = [54, 55]  # fetched before the seek, handed after it


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


@dataclass
class Fetching(AiokafkaSide):
    """The consumer thread's fetches too: the stale batch first, then from the position."""

    stale: list[int] = field(default_factory=lambda: list(STALE))
    seeks: list[int] = field(default_factory=list)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        super().seek(tp, offset)
        self.seeks.append(offset)

    def assignment(self) -> set[TopicPartition]:
        return {SUPPORT}

    def highwater(self, tp: TopicPartition) -> int:
        return LOG_END

    async def getmany(self, active: Any, timeout: float) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0)
        if self.stale:
            batch, self.stale = self.stale, []
            return {SUPPORT: [record(SUPPORT, offset) for offset in batch]}
        start = self.broker.positions[SUPPORT]
        end = min(start + 10, LOG_END)
        self.broker.positions[SUPPORT] = end
        return {SUPPORT: [record(SUPPORT, offset) for offset in range(start, end)]}


@dataclass
class Fetcher:
    """What ``_drain_messages`` uses of Faust's fetcher: its stop flag."""

    _stopped: asyncio.Event = field(default_factory=asyncio.Event)


async def first_of(*awaitables: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def drained(
    consumer: Any, side: Fetching, committed: int, skip: int | None = None, agent: bool = False
) -> list[int]:
    """The offsets Faust hands its streams after a takeover's seek to ``committed``; the
    stream skips ``skip`` the first time (and acknowledges it as Faust's Python iterator
    does, unless ``agent``: then silently, as its Cython one, and only what the agent
    takes counts)."""
    side.broker.committed[SUPPORT] = committed
    handed: list[int] = []
    fetcher = Fetcher()

    async def callback(message: Any) -> None:
        nonlocal skip
        if message.offset == skip:
            skip = None
            if not agent:
                message.refcount = 1
                message.ack(consumer)  # the stream's skip: flow paused, or a new generation
            return
        if agent and not order_of(consumer).received(message.tp, message.offset):
            return
        handed.append(message.offset)
        if message.offset == LOG_END - 1:
            fetcher._stopped.set()

    consumer._thread, consumer.callback, side.faust = side, callback, consumer
    consumer._active_partitions = {TP(SUPPORT.topic, SUPPORT.partition)}
    consumer.resume_flow()  # as after the recovery
    await consumer.perform_seek()  # Faust's "Seek stream partitions to committed offsets"
    consumer.wait_first = first_of  # mode's waits on the app's loop, not the test's
    await asyncio.wait_for(consumer._drain_messages(fetcher), timeout=10)
    return handed


@pytest.fixture
def side() -> Fetching:
    return Fetching(Broker(committed={SUPPORT: None}, positions={SUPPORT: LOG_END}))


@pytest.mark.parametrize("committed", [0, 40])
async def test_a_record_fetched_before_the_seek_does_not_skip_what_the_seek_is_for(
    router: Router, side: Fetching, committed: int
) -> None:
    consumer = router.app.consumer
    thread = consumer._thread
    try:
        handed = await drained(consumer, side, committed)
    finally:
        consumer._thread = thread

    assert handed == list(range(committed, LOG_END))  # 53 among them; 54 and 55 once
    assert side.seeks == [committed, committed]  # the takeover's; then 54 held back


async def test_a_record_faust_skipped_is_fetched_again(router: Router, side: Fetching) -> None:
    """``consuming``: Faust's acknowledgement of a record its stream skipped is refused,
    and the partition is sought back to it (``InOrder.missed``)."""
    consumer = router.app.consumer
    router.app.topics._acking_topics.add(SUPPORT.topic)
    thread = consumer._thread
    side.stale = []
    try:
        handed = await drained(consumer, side, 40, skip=45)
    finally:
        consumer._thread = thread

    assert handed == list(range(40, LOG_END))  # 46-49 held back until 45 came again
    assert side.seeks == [40, 45]
    assert consumer._acked[SUPPORT] == []  # the skip acknowledged nothing


async def test_the_last_record_skipped_before_a_quiet_spell_is_read_again(
    router: Router, side: Fetching
) -> None:
    """Faust's Cython iterator skips silently, and no later record shows the agent it
    missed one: after ``stuck_after`` seconds the partition is read again."""
    consumer = router.app.consumer
    order_of(consumer)._stuck_after = 0.2
    thread = consumer._thread
    side.stale = []
    try:
        handed = await drained(consumer, side, 40, skip=LOG_END - 1, agent=True)
    finally:
        consumer._thread = thread

    assert handed == list(range(40, LOG_END))  # 59 too, read again
    assert side.seeks == [40, LOG_END - 1]


async def test_faust_alone_drops_what_the_seek_is_for(router: Router, side: Fetching) -> None:
    """Why ``InOrder`` exists: should Faust take only the record due one day, this fails."""
    consumer = router.app.consumer
    thread = consumer._thread
    for name in ("getmany", "seek", "seek_to_committed"):  # Faust's own methods again
        delattr(consumer, name)
    try:
        handed = await drained(consumer, side, 40)
    finally:
        consumer._thread = thread

    assert handed == [54, 55, 55, 56, 57, 58, 59]  # 40-53 dropped as "already read"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def order(clock: Clock) -> InOrder:
    return InOrder({SUPPORT.topic}, reseek_every=2.0, give_up_after=10.0, clock=clock)


def admit_all(order: InOrder, offsets: list[int], tp: TopicPartition = SUPPORT) -> list[str]:
    return [order.admit(tp, offset) for offset in offsets]


def test_the_record_due_goes_over_and_the_next_is_due(order: InOrder) -> None:
    order.sought(SUPPORT, 40)

    assert admit_all(order, [40, 41, 42]) == [HAND, HAND, HAND]
    assert order.due(SUPPORT) == 43


def test_a_record_after_the_one_due_is_held_back_and_the_partition_sought_once(
    order: InOrder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    order.sought(SUPPORT, 0)
    with caplog.at_level(logging.WARNING, logger="services.router.seeking"):
        verdicts = admit_all(order, [54, 55, 56])
        clock.now += 1.9
        verdicts += admit_all(order, [57])
        clock.now += 0.1
        verdicts += admit_all(order, [58])

    assert verdicts == [SEEK, DROP, DROP, DROP, SEEK]  # again every 2 s while it lasts
    assert order.held_back == 5
    assert order.due(SUPPORT) == 0
    assert "offset 54 came where 0 was due" in caplog.records[0].getMessage()
    assert admit_all(order, [0, 1]) == [HAND, HAND]


def test_a_record_before_the_one_due_was_handed_over_already(order: InOrder) -> None:
    order.sought(SUPPORT, 10)

    assert admit_all(order, [10, 11, 11, 10, 12]) == [HAND, HAND, DROP, DROP, HAND]


def test_a_seek_back_makes_earlier_records_due_again(order: InOrder) -> None:
    order.sought(SUPPORT, 10)
    admit_all(order, [10, 11, 12])
    order.sought(SUPPORT, 11)  # a rebalance: the committed offset

    assert admit_all(order, [11, 12, 13]) == [HAND, HAND, HAND]


def test_offsets_absent_from_the_log_are_given_up_on_with_a_warning(
    order: InOrder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    order.sought(SUPPORT, 5)  # 5-7 gone (retention) by the time it is read
    assert admit_all(order, [8]) == [SEEK]
    clock.now += 9.9
    assert admit_all(order, [8]) == [SEEK]
    clock.now += 0.1
    with caplog.at_level(logging.WARNING, logger="services.router.seeking"):
        assert admit_all(order, [8, 9]) == [HAND, HAND]

    assert order.given_up == 1
    assert "offset 5 due, offset 8 fetched again and again for 10 s" in caplog.text


def test_a_seek_ends_a_hold(order: InOrder, clock: Clock) -> None:
    order.sought(SUPPORT, 5)
    admit_all(order, [8])
    clock.now += 60  # revoked meanwhile; assigned again, sought
    order.sought(SUPPORT, 20)

    assert admit_all(order, [22]) == [SEEK]  # a new hold, not one 60 s old given up on
    assert order.given_up == 0


def test_partitions_never_sought_and_other_topics_go_over_as_they_come(order: InOrder) -> None:
    assert admit_all(order, [7, 3]) == [HAND, DROP]  # the first sets what is due
    order.sought(CHANGELOG, 0)

    assert admit_all(order, [9, 4, 4], tp=CHANGELOG) == [HAND, HAND, HAND]
    assert order.due(CHANGELOG) is None


def test_a_record_missed_makes_it_due_again_and_asks_for_one_seek(order: InOrder) -> None:
    order.sought(SUPPORT, 40)
    admit_all(order, list(range(40, 50)))

    assert order.missed(SUPPORT, 45) is True  # back from 50
    assert order.missed(SUPPORT, 47) is False  # 45 is due already
    assert order.due(SUPPORT) == 45
    assert order.pending() == [(SUPPORT, 45)]
    assert order.pending() == []  # once
    assert admit_all(order, [45, 46]) == [HAND, HAND]
    order.missed(SUPPORT, 46)
    order.sought(SUPPORT, 30)  # a rebalance's seek goes further back: nothing pending
    assert order.pending() == []
    assert order.missed(CHANGELOG, 3) is False  # Faust's business


def test_records_that_never_reach_the_agent_are_read_again(
    order: InOrder, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The last records before a quiet spell, skipped by Faust's stream: no later record
    comes to the agent to show it (``received``), so time does."""
    order.sought(SUPPORT, 40)
    admit_all(order, list(range(40, 45)))  # handed over
    assert [order.received(SUPPORT, o) for o in (40, 41)] == [True, True]  # 42-44 skipped
    clock.now += 4.9
    assert order.stuck() == []
    clock.now += 0.1
    with caplog.at_level(logging.WARNING, logger="services.router.seeking"):
        assert order.stuck() == [SUPPORT]
    assert "offsets 42-44 handed over, none at the agent for 5 s" in caplog.text
    assert order.pending() == [(SUPPORT, 42)]
    assert order.stuck() == []  # once
    assert admit_all(order, [42, 43]) == [HAND, HAND]  # read again
    assert [order.received(SUPPORT, o) for o in (42, 43)] == [True, True]


def test_a_slow_agent_gets_its_records_once_though_they_come_twice(
    order: InOrder, clock: Clock
) -> None:
    order.sought(SUPPORT, 40)
    admit_all(order, [40, 41, 42])
    clock.now += 6  # the agent busy: 40-42 still queued for it
    assert order.stuck() == [SUPPORT]
    assert [order.received(SUPPORT, o) for o in (40, 41, 42)] == [True, True, True]
    assert admit_all(order, [40, 41, 42, 43]) == [HAND] * 4  # the re-read, and on
    assert [order.received(SUPPORT, o) for o in (40, 41, 42, 43)] == [False, False, False, True]
