"""The projector's SLA signals: owed to the teams' webhooks, never lost to a race.

A signal is keyed like its task's ``task.routed``, so one process reads partition
N of both topics; the fake consumer below hands it the signals first (the worst
order) to prove a signal waits for its task on its own partition only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import SLA_AT_RISK, SLA_BREACHED
from services.api import projector as projector_module
from services.api.db import Delivery
from services.api.metrics import ApiMetrics
from services.api.projector import Projector, ProjectorConfig

from .conftest import MakeRouted
from .test_api_projector import FakeDeadLetters, Record
from .test_team_alerts import register, signal_event

ROUTED = TopicPartition(topics.ROUTED, 0)
SLA = TopicPartition(topics.SLA, 0)


class TwoTopicConsumer:
    """Partition 0 of handoff.routed and of handoff.sla, signals polled first."""

    def __init__(self, routed: list[bytes], sla: list[bytes]) -> None:
        self.records = {
            tp: [Record(tp.topic, 0, i, b"example.co.jp", v) for i, v in enumerate(values)]
            for tp, values in ((SLA, sla), (ROUTED, routed))
        }
        self.positions = {SLA: 0, ROUTED: 0}
        self.committed: dict[TopicPartition, int] = {}

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        batch = {}
        for tp, records in self.records.items():
            if pending := records[self.positions[tp] :]:
                batch[tp], self.positions[tp] = pending, len(records)
        if not batch:
            time.sleep(timeout_ms / 1000)
        return batch

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return {SLA, ROUTED}

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records[tp])

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.committed.update({tp: o.offset for tp, o in offsets.items()})

    def close(self, autocommit: bool = True) -> None:
        pass


Run = Callable[[TwoTopicConsumer, FakeDeadLetters], Projector]


@pytest.fixture
def run(engine: sa.Engine) -> Iterator[Run]:
    started: list[Projector] = []

    def start(consumer: TwoTopicConsumer, dead_letters: FakeDeadLetters) -> Projector:
        projector = Projector(
            engine,
            ProjectorConfig(bootstrap="unused:9092", group_id="g", poll_timeout_ms=10),
            metrics=ApiMetrics(CollectorRegistry()),
            dead_letters=dead_letters,
            consumer_factory=lambda _config: consumer,  # type: ignore[arg-type,return-value]
        )
        projector.start()
        started.append(projector)
        return projector

    yield start
    for projector in started:
        projector.stop()


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def owed(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(Delivery.source, Delivery.task_state)).all())


def test_a_signal_read_before_its_task_waits_for_it_and_is_owed(
    engine: sa.Engine, make_routed: MakeRouted, run: Run
) -> None:
    routed = make_routed("zendesk-1")
    task_id = routed.data["task_id"]
    register(engine, "billing-ui")
    consumer = TwoTopicConsumer(
        routed=[routed.to_bytes()],
        sla=[signal_event(SLA_AT_RISK, task_id).to_bytes()],
    )
    dead = FakeDeadLetters()

    projector = run(consumer, dead)

    until(lambda: consumer.committed.get(SLA) == 1)
    assert owed(engine) == [("team:billing-ui", "at_risk")]
    assert projector.processed["alerted"] == 1
    assert dead.sent == []


def test_a_signal_whose_task_never_comes_is_parked_and_the_partition_goes_on(
    engine: sa.Engine,
    make_routed: MakeRouted,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projector_module, "WAIT_FOR_TASK_S", 0.05)
    routed = make_routed("zendesk-2")
    register(engine, "billing-ui")
    consumer = TwoTopicConsumer(
        routed=[routed.to_bytes()],
        sla=[
            signal_event(SLA_BREACHED, "task-from-nowhere").to_bytes(),
            signal_event(SLA_BREACHED, routed.data["task_id"]).to_bytes(),
        ],
    )
    dead = FakeDeadLetters()

    run(consumer, dead)

    until(lambda: consumer.committed.get(SLA) == 2)
    [(_, letter)] = dead.sent
    assert letter["error_type"] == "UnknownTask"
    assert "task-from-nowhere" in letter["reason"]
    assert f"partition 0 of {topics.ROUTED} is read to its end" in letter["reason"]
    assert json.loads(letter["value"])["data"]["task_id"] == "task-from-nowhere"
    assert owed(engine) == [("team:billing-ui", "breached")]  # its task came: owed as usual
