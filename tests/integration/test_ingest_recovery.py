"""Ingest recovers by itself from a broker restart under concurrent load (issue 10, defect 1).

Eight threads post tickets while the broker is stopped and started again (its own
broker: the session's stays up for the other tests). Ingest answers 503 meanwhile,
202 again within a bound once the broker is back, and every ticket it accepted is on
the topic. Before the fix kafka-python's idempotent producer lost its producer id
when batches it had sent expired, and stayed stuck for good.

A group consumer made as the projector's, the trackers' and raw ingest's are
(``group_consumer``) polls through the same outage and reads again within seconds of
ingest's first 202. With kafka-python's default reconnect backoff (up to 30 s) such a
consumer read again 36-50 s after a 20 s outage.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import CloudEvent
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.kafka_admin import ensure_topics
from services.kafka_group import group_consumer
from services.local.kafka import LocalKafka, free_port
from tests.processes import read_topic

URL = "/v1/sources/support/tickets"
THREADS = 8
OUTAGE_S = 15.0
ACK_TIMEOUT_S = 5.0
RECOVERY_BOUND_S = 30.0  # from the broker answering again to ingest's first 202
READ_AGAIN_BOUND_S = 10.0  # from ingest's first 202 to the group consumer reading it

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.usefixtures("collect_kafka_python_leaks"),
]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalKafka]:
    kafka = LocalKafka(home=tmp_path / "kafka", port=free_port(), controller_port=free_port())
    kafka.up(timeout=120)
    try:
        yield kafka
    finally:
        kafka.down()


@dataclass
class Traffic:
    """Threads posting tickets without pause; every answer kept as (time, status, id)."""

    client: TestClient
    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Traffic:
        self.threads = [threading.Thread(target=self._post_until_stopped) for _ in range(THREADS)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(ACK_TIMEOUT_S * 3)

    def _post_until_stopped(self) -> None:
        while not self.stop.is_set():
            ticket = {
                "ticket_id": f"recovery-{uuid.uuid4().hex}",
                "subject": "The invoice screen is confusing",
                "requester_email": "taro@example.co.jp",
            }
            response = self.client.post(URL, json=ticket)
            accepted = response.json()["id"] if response.status_code == 202 else None
            with self.lock:
                self.answers.append((time.monotonic(), response.status_code, accepted))
            if response.status_code != 202:
                time.sleep(0.2)  # as a client honouring Retry-After would, only sooner

    def first_accepted_after(self, moment: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                after = [at for at, status, _ in self.answers if status == 202 and at > moment]
            if after:
                return min(after)
            time.sleep(0.1)
        return None

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> set[int]:
        with self.lock:
            return {status for at, status, _ in self.answers if since <= at <= until}

    def accepted(self) -> set[str]:
        with self.lock:
            return {event_id for _, _, event_id in self.answers if event_id}


class Reader:
    """A services' group consumer polling in a thread; when it read each record (monotonic)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = group_consumer(
            [topics.INGEST_SUPPORT], bootstrap=bootstrap, group_id=f"reader-{uuid.uuid4().hex}"
        )
        self.read_at: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.consumer.close(autocommit=False)

    def _poll(self) -> None:
        while not self.stop.is_set():
            try:
                got = self.consumer.poll(timeout_ms=200)
            except KafkaError:
                self.stop.wait(0.2)  # what the services' loops do: poll again, a little later
                continue
            if got:
                self.read_at.append(time.monotonic())

    def seconds_to_read_after(self, moment: float, timeout: float = 60.0) -> float | None:
        """Seconds from ``moment`` (monotonic) to the first poll after it that brought records."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if after := [at for at in list(self.read_at) if at > moment]:
                return min(after) - moment
            time.sleep(0.1)
        return None


def producer_threads() -> list[str]:
    """kafka-python threads of ingest's producers still alive (I/O loops, senders)."""
    return [t.name for t in threading.enumerate() if "handoff-ingest" in t.name and t.is_alive()]


def event_ids(records: list[Any]) -> set[str]:
    return {CloudEvent.from_bytes(r.value).id for r in records}


def stop(broker: LocalKafka, how: str) -> None:
    """``stop``: SIGTERM, a graceful shutdown; ``kill``: SIGKILL, requests cut mid-flight."""
    pid = broker.pid()
    if how == "kill" and pid is not None:
        os.kill(pid, signal.SIGKILL)
    broker.down()  # waits for (and reaps) it either way


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_ingest_answers_202_again_soon_after_a_broker_restart_and_loses_nothing(
    broker: LocalKafka, how: str
) -> None:
    ensure_topics(broker.bootstrap, [topics.INGEST_SUPPORT], partitions=4)
    settings = IngestSettings(
        kafka_bootstrap=broker.bootstrap,
        ingest_ack_timeout_s=ACK_TIMEOUT_S,
        ingest_unsigned_sources=("support",),
    )
    app = create_app(settings, registry=CollectorRegistry())
    with TestClient(app) as client, Reader(broker.bootstrap) as reader:
        with Traffic(client) as traffic:
            assert traffic.first_accepted_after(0.0, timeout=30) is not None
            time.sleep(2)
            stop(broker, how)
            down_at = time.monotonic()
            time.sleep(OUTAGE_S)
            during = client.get("/readyz")
            broker.up(timeout=120)
            back_at = time.monotonic()
            first = traffic.first_accepted_after(back_at, timeout=RECOVERY_BOUND_S)
            time.sleep(3)  # traffic goes on after the recovery
        ready = client.get("/readyz")
        read_again = reader.seconds_to_read_after(first) if first is not None else None
    # every producer it discarded during the outage is closed with the app (forced if
    # need be): none goes on trying a broker for as long as the process lives
    assert producer_threads() == []

    assert first is not None, f"no 202 within {RECOVERY_BOUND_S}s of the broker being back"
    print(f"\n{how}: first 202 {first - back_at:.1f}s after the broker was back")
    assert during.status_code == 503, during.text
    assert ready.status_code == 200, ready.text
    assert 503 in traffic.statuses(since=down_at + ACK_TIMEOUT_S, until=back_at)
    assert traffic.statuses() <= {202, 503}
    print(f"{how}: the group consumer read again {read_again}s after the first 202")
    assert read_again is not None
    assert read_again <= READ_AGAIN_BOUND_S
    accepted = traffic.accepted()
    records = read_topic(
        broker.bootstrap, topics.INGEST_SUPPORT, lambda rs: accepted <= event_ids(rs), timeout=60
    )
    lost = accepted - event_ids(records)
    print(f"{how}: accepted {len(accepted)} tickets, lost {len(lost)}")
    assert not lost
