"""Raw Kafka sources: normalise, produce, commit after the ack; bad records to the DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import CloudEvent
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import BrokerHealth, PublishError
from services.ingest.raw import RawIngest, raw_topic

from .adapters.fixtures import load

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class FakeConsumer:
    batches: list[dict[TopicPartition, list[Record]]]
    commits: list[dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Any]]:
        return self.batches.pop(0) if self.batches else {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append(dict(offsets))


@dataclass
class FakePublisher:
    fail_on: int | None = None
    published: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if self.fail_on is not None and len(self.published) == self.fail_on:
            raise PublishError(topic, "not acknowledged")
        self.published.append((topic, key, value))

    def check(self) -> BrokerHealth:
        return BrokerHealth(True, "fake")

    def close(self) -> None:
        pass


def make(
    batches: list[dict[TopicPartition, list[Record]]], publisher: FakePublisher
) -> tuple[RawIngest, FakeConsumer, CollectorRegistry]:
    consumer = FakeConsumer(batches)
    registry = CollectorRegistry()
    worker = RawIngest(consumer, publisher, IngestMetrics(registry), clock=lambda: NOW)
    return worker, consumer, registry


TP = TopicPartition(raw_topic("hubspot"), 0)


def test_a_good_and_a_bad_record_produce_and_dead_letter_then_commit() -> None:
    good = json.dumps(load("hubspot_deal_won.json")).encode()
    bad = b'{"id": "1", "properties": {"dealstage": "closedwon"}}'  # no account
    publisher = FakePublisher()
    worker, consumer, registry = make(
        [{TP: [Record(TP.topic, 0, 10, b"k", good), Record(TP.topic, 0, 11, b"k2", bad)]}],
        publisher,
    )

    assert worker.poll_once() == 2

    (topic1, key1, value1), (topic2, key2, value2) = publisher.published
    assert (topic1, key1) == (topics.INGEST_SALES, b"company:9876543210")
    assert CloudEvent.from_bytes(value1).data["intent"] == "deal_won"
    assert (topic2, key2) == (topics.DLQ, b"k2")
    letter = DeadLetter.from_bytes(value2)
    assert letter.original_value() == bad
    assert (letter.topic, letter.partition, letter.offset, letter.service) == (
        TP.topic,
        0,
        11,
        "ingest",
    )
    assert "hubspot" in letter.reason
    assert "associations.companies" in letter.reason
    assert consumer.commits == [{TP: OffsetAndMetadata(12, "", -1)}]
    for outcome in ("accepted", "dead_lettered"):
        labels = {"source": "raw:hubspot", "outcome": outcome}
        assert registry.get_sample_value("handoff_ingest_events_total", labels) == 1


def test_undecodable_bytes_are_dead_lettered_with_the_original_bytes() -> None:
    tp = TopicPartition(raw_topic("zendesk"), 1)
    publisher = FakePublisher()
    worker, _, _ = make([{tp: [Record(tp.topic, 1, 0, None, b"\xff\xfe garbage")]}], publisher)
    worker.poll_once()
    [(topic, _, value)] = publisher.published
    assert topic == topics.DLQ
    assert DeadLetter.from_bytes(value).original_value() == b"\xff\xfe garbage"


def test_not_acknowledged_means_not_committed_and_read_again() -> None:
    good = json.dumps(load("hubspot_deal_won.json")).encode()
    publisher = FakePublisher(fail_on=1)
    records = [Record(TP.topic, 0, o, b"k", good) for o in (5, 6, 7)]
    worker, consumer, _ = make([{TP: records}], publisher)
    worker.poll_once()  # backs off 0.5 s after the failure

    assert consumer.commits == [{TP: OffsetAndMetadata(6, "", -1)}]
    assert consumer.seeks == [(TP, 6)]


def test_capacity_csv_raw_records_are_text() -> None:
    tp = TopicPartition(raw_topic("capacity-csv"), 0)
    content = b"plant,line,date,units,as_of\nP1,L1,2026-03-10,5,2026-03-02T00:00:00Z\n"
    publisher = FakePublisher()
    worker, _, _ = make([{tp: [Record(tp.topic, 0, 0, None, content)]}], publisher)
    worker.poll_once()
    assert [t for t, _, _ in publisher.published] == [topics.INGEST_CAPACITY]
