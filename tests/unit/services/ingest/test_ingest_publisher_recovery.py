"""KafkaPublisher recovers from a wedged producer, and says when it is ready (issue 10, defect 1).

kafka-python's producer is faked at the factory; its transaction manager is faked in
the state kafka-python 3.0.12 wedges in (READY without a producer id). The real
broker restart is tests/integration/test_ingest_recovery.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka.errors import KafkaTimeoutError
from kafka.producer.transaction_manager import TransactionState
from prometheus_client import CollectorRegistry

from services.ingest import probes
from services.ingest import publisher as publisher_module
from services.ingest.app import create_app
from services.ingest.probes import BrokerHealth, lost_producer_id
from services.ingest.publisher import KafkaPublisher, PublishError
from services.ingest.settings import IngestSettings

from .test_ingest_publisher import FakeFactory, FakeProducer


@dataclass
class FakeTransactionManager:
    """The part of kafka-python's TransactionManager that ``lost_producer_id`` reads."""

    _current_state: TransactionState = TransactionState.READY
    producer_id: int = 1000

    def is_transactional(self) -> bool:
        return False

    def has_producer_id(self) -> bool:
        return self.producer_id >= 0


@dataclass
class WedgingProducer(FakeProducer):
    """Delivers until ``wedge()``; then, like kafka-python 3.0.12, times out for ever."""

    _transaction_manager: FakeTransactionManager = field(default_factory=FakeTransactionManager)
    wedges_on_send: bool = False

    def wedge(self) -> None:
        self._transaction_manager.producer_id = -1  # reset_producer_id(), state left READY
        self.errors[:] = [KafkaTimeoutError("Expiring 4 record(s)")] * 100

    def send(self, topic: str, *, key: bytes, value: bytes) -> Any:
        if self.wedges_on_send:
            self.wedge()
        return super().send(topic, key=key, value=value)


@dataclass
class WedgingFactory(FakeFactory):
    def __call__(self, timeout_s: float) -> WedgingProducer:
        self.budgets.append(timeout_s)
        self.built.append(WedgingProducer())
        return self.built[-1]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("state", "producer_id", "stuck"),
    [
        (TransactionState.READY, -1, True),
        (TransactionState.READY, 7, False),
        (TransactionState.UNINITIALIZED, -1, False),  # asks for an id on its next loop
        (TransactionState.INITIALIZING, -1, False),
        (TransactionState.BUMPING_PRODUCER_EPOCH, 7, False),
    ],
)
def test_a_producer_is_stuck_only_when_ready_without_a_producer_id(
    state: TransactionState, producer_id: int, stuck: bool
) -> None:
    producer = WedgingProducer(_transaction_manager=FakeTransactionManager(state, producer_id))

    assert lost_producer_id(producer) is stuck


def test_other_producers_are_never_called_stuck() -> None:
    assert lost_producer_id(FakeProducer()) is False
    assert lost_producer_id(object()) is False


def test_a_wedged_producer_is_replaced_and_the_next_event_is_delivered() -> None:
    factory = WedgingFactory()
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory)
    pub.publish("t", b"k", b"before")
    factory.built[0].wedges_on_send = True  # the broker goes away with this event in flight

    with pytest.raises(PublishError, match="did not acknowledge"):
        pub.publish("t", b"k", b"during")  # the event in hand when it wedged: a 503
    pub.publish("t", b"k", b"after")

    first, second = factory.built
    assert first.closed.wait(2)
    assert [value for _, _, value in second.sent] == [b"after"]


def test_a_producer_found_wedged_before_sending_is_replaced_first() -> None:
    factory = WedgingFactory()
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory)
    pub.publish("t", b"k", b"before")
    factory.built[0].wedge()

    pub.publish("t", b"k", b"after")  # no event is lost to a producer known to be stuck

    assert [value for _, _, value in factory.built[1].sent] == [b"after"]


def test_a_producer_failing_long_while_the_broker_answers_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wedge not known yet: no ack for two ack timeouts, yet the cluster answers.

    The threshold is set to zero, so one failure is "long"; the check runs on its own
    thread, so the test waits for the close before the next publish (a second failure
    racing that thread would be answered by a third producer, as it should be).
    """
    monkeypatch.setattr(publisher_module, "WEDGED_AFTER_ACK_TIMEOUTS", 0.0)
    monkeypatch.setattr(probes, "cluster", lambda *_: BrokerHealth(True, "answers"))
    factory = FakeFactory(send_errors=[KafkaTimeoutError("no ack")])
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory)

    with pytest.raises(PublishError):
        pub.publish("t", b"k", b"lost")
    assert factory.built[0].closed.wait(2)
    pub.publish("t", b"k", b"v")

    _, second = factory.built
    assert [value for _, _, value in second.sent] == [b"v"]


def test_a_producer_failing_while_the_broker_is_down_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publisher_module, "WEDGED_AFTER_ACK_TIMEOUTS", 0.0)
    monkeypatch.setattr(probes, "cluster", lambda *_: BrokerHealth(False, "refused"))
    factory = FakeFactory(send_errors=[KafkaTimeoutError("no ack")] * 3)
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory)

    for _ in range(3):
        with pytest.raises(PublishError):
            pub.publish("t", b"k", b"v")
    time.sleep(0.2)

    assert len(factory.built) == 1
    assert not factory.built[0].closed.is_set()


def _probed(health: BrokerHealth, calls: list[Any]) -> Any:
    def probe(*args: Any) -> BrokerHealth:
        calls.append(args)
        return health

    return probe


def test_ready_after_a_recent_delivery_without_asking_the_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(probes, "topics", _probed(BrokerHealth(False, "x"), calls))
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=FakeFactory())
    pub.publish("t", b"k", b"v")

    health = pub.ready(30.0)

    assert health.reachable
    assert "acknowledged" in health.detail
    assert calls == []


def test_not_ready_when_failing_since_the_last_delivery_and_the_probe_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(probes, "topics", _probed(BrokerHealth(False, "refused"), calls))
    factory = FakeFactory(send_errors=[None, KafkaTimeoutError("no ack")])
    pub = KafkaPublisher(
        "127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory, probe_topics=("a", "b")
    )
    pub.publish("t", b"k", b"v")
    with pytest.raises(PublishError):
        pub.publish("t", b"k", b"v")

    assert pub.ready(30.0) == BrokerHealth(False, "refused")
    [(_, _, _, topics)] = calls
    assert topics == ("a", "b")


def test_ready_when_idle_if_the_probe_finds_leaders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "topics", lambda *_: BrokerHealth(True, "leaders"))
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=FakeFactory())

    assert pub.ready(30.0).reachable


def test_a_wedged_producer_is_not_ready_and_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "topics", lambda *_: BrokerHealth(True, "leaders"))
    factory = WedgingFactory()
    pub = KafkaPublisher("127.0.0.1:9", ack_timeout_s=2.0, producer_factory=factory)
    pub.publish("t", b"k", b"v")
    factory.built[0].wedge()

    assert not pub.ready(30.0).reachable
    assert factory.built[0].closed.wait(2)
    assert pub.ready(30.0).reachable


@dataclass
class ReadinessPublisher:
    health: BrokerHealth
    asked: list[float] = field(default_factory=list)

    def publish(self, topic: str, key: bytes, value: bytes) -> None: ...

    def check(self) -> BrokerHealth:
        return BrokerHealth(True, "alive")

    def ready(self, max_age_s: float) -> BrokerHealth:
        self.asked.append(max_age_s)
        return self.health

    def close(self) -> None: ...


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
def test_readyz_answers_from_the_publisher_readiness(ready: bool, status: int) -> None:
    sink = ReadinessPublisher(BrokerHealth(ready, "why"))
    settings = IngestSettings(ingest_ready_delivered_s=12)
    client = TestClient(create_app(settings, publisher=sink, registry=CollectorRegistry()))

    response = client.get("/readyz")

    assert response.status_code == status
    assert response.json()["kafka"] == {"ready": ready, "detail": "why"}
    assert sink.asked == [12]
    assert client.get("/healthz").status_code == 200  # alive either way
