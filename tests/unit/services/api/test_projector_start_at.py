"""``StartAt``: where a partition the projector's group never committed starts (``latest``).

The real broker is in tests/integration/test_api_offset_reset.py; here the rules alone,
against a consumer that only answers ``committed`` and records ``seek``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaTimeoutError
from kafka.structs import OffsetAndMetadata, TopicPartition

from services.api.consumer import Offsets, StartAt

TP = TopicPartition("handoff.routed", 0)


@dataclass
class Record:
    offset: int


@dataclass
class Consumer:
    committed_offset: int | None = None
    fails: bool = False
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    asked: int = 0

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        self.asked += 1
        if self.fails:
            raise KafkaTimeoutError("no coordinator")
        return self.committed_offset

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def batch(first: int, last: int) -> list[Any]:
    return [Record(n) for n in range(first, last + 1)]


def test_a_partition_never_committed_skips_what_lies_before_its_start() -> None:
    consumer, done = Consumer(), Offsets()
    kept = StartAt({TP: 150}).records(consumer, TP, batch(100, 199), done)  # type: ignore[arg-type]
    assert [r.offset for r in kept] == list(range(150, 200))
    assert consumer.seeks == []
    assert done == {}


def test_a_batch_wholly_before_the_start_seeks_there_and_commits_it() -> None:
    consumer, done = Consumer(), Offsets()
    start = StartAt({TP: 450})
    assert start.records(consumer, TP, batch(0, 199), done) == []  # type: ignore[arg-type]
    assert consumer.seeks == [(TP, 450)]
    assert done == {TP: OffsetAndMetadata(450, "", -1)}


def test_a_committed_partition_and_a_second_batch_are_read_whole() -> None:
    consumer, done = Consumer(committed_offset=10), Offsets()
    start = StartAt({TP: 450})
    assert len(start.records(consumer, TP, batch(10, 20), done)) == 11  # type: ignore[arg-type]
    assert len(start.records(consumer, TP, batch(21, 30), done)) == 10  # type: ignore[arg-type]
    assert consumer.asked == 1  # once per partition and consumer
    start.forget()
    start.records(consumer, TP, batch(31, 40), done)  # type: ignore[arg-type]
    assert consumer.asked == 2


def test_without_an_answer_from_the_group_nothing_is_skipped() -> None:
    consumer, done = Consumer(fails=True), Offsets()
    kept = StartAt({TP: 450}).records(consumer, TP, batch(0, 9), done)  # type: ignore[arg-type]
    assert len(kept) == 10
    assert consumer.seeks == []


def test_a_partition_unknown_at_the_start_is_read_from_its_beginning() -> None:
    consumer = Consumer()
    other = TopicPartition("handoff.sla", 3)
    kept = StartAt({TP: 450}).records(consumer, other, batch(0, 9), Offsets())  # type: ignore[arg-type]
    assert len(kept) == 10
    assert consumer.asked == 0
