"""Ingest against the real broker: the event on the topic, byte for byte, or a 503.

Other tests share the broker and the topic, so each test reads only the offsets
written while it posted and filters by its own unique ticket ids.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import CloudEvent, SupportTicket, derived_id, envelope
from services.ingest.app import create_app
from services.ingest.publisher import KafkaPublisher
from services.ingest.settings import IngestSettings
from services.kafka_admin import ensure_topics
from services.local.kafka import free_port

URL = "/v1/sources/support/tickets"
NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)

Offsets = dict[TopicPartition, int]


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    ensure_topics(kafka_bootstrap, [topics.INGEST_SUPPORT], partitions=4)
    return kafka_bootstrap


@pytest.fixture
def consumer(bootstrap: str) -> Iterator[KafkaConsumer]:
    reader = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"test-ingest-{uuid.uuid4().hex[:8]}",
    )
    partitions = reader.partitions_for_topic(topics.INGEST_SUPPORT)
    assert partitions, "the ingest topic has no partitions"
    reader.assign([TopicPartition(topics.INGEST_SUPPORT, p) for p in sorted(partitions)])
    try:
        yield reader
    finally:
        reader.close()


def end_offsets(reader: KafkaConsumer) -> Offsets:
    ends: Offsets = reader.end_offsets(list(reader.assignment()))
    return ends


def records_between(reader: KafkaConsumer, start: Offsets, end: Offsets) -> list[Any]:
    """Every record written in [start, end) on the ingest topic."""
    for partition, offset in start.items():
        reader.seek(partition, offset)
    wanted = sum(end[p] - start[p] for p in start)
    records: list[Any] = []
    deadline = time.monotonic() + 20
    while len(records) < wanted and time.monotonic() < deadline:
        for partition, batch in reader.poll(timeout_ms=500).items():
            records.extend(r for r in batch if r.offset < end[partition])
    assert len(records) == wanted, f"read {len(records)} of {wanted} records"
    return records


def with_id(records: list[Any], event_id: str) -> list[Any]:
    return [r for r in records if CloudEvent.from_bytes(r.value).id == event_id]


def ticket_body(ticket_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticket_id": ticket_id,
        "subject": "請求書の画面が分かりにくい",
        "description": "<p>支払い方法の変更ボタンが見つかりません。</p>",
        "requester_email": "taro@example.co.jp",
        "priority": "urgent",
        "component": "billing-ui",
    }
    return body | overrides


def ingest_client(settings: IngestSettings, **kwargs: Any) -> TestClient:
    return TestClient(create_app(settings, clock=lambda: NOW, **kwargs))


def test_ticket_is_on_the_topic_exactly_as_the_event_it_answered(
    bootstrap: str, consumer: KafkaConsumer
) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:10]}"
    body = ticket_body(ticket_id)
    before = end_offsets(consumer)

    with ingest_client(
        IngestSettings(kafka_bootstrap=bootstrap, ingest_unsigned_sources=("support",))
    ) as client:
        response = client.post(URL, json=body)
    after = end_offsets(consumer)

    assert response.status_code == 202, response.text
    event_id = derived_id("support.ticket", "/sources/support", ticket_id)
    assert response.json() == {
        "id": event_id,
        "account": "example.co.jp",
        "topic": topics.INGEST_SUPPORT,
    }
    [record] = with_id(records_between(consumer, before, after), event_id)
    assert record.key == b"example.co.jp"
    expected = envelope(
        type_="support.ticket",
        source="/sources/support",
        data=SupportTicket.model_validate(body),
        time=NOW,
        event_id=event_id,
        subject=ticket_id,
    )
    assert record.value == expected.to_bytes()
    assert "請求書の画面が分かりにくい".encode() in record.value
    assert CloudEvent.from_bytes(record.value).data["subject"] == "請求書の画面が分かりにくい"


def test_the_same_ticket_twice_is_the_same_event_id(
    bootstrap: str, consumer: KafkaConsumer
) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:10]}"
    before = end_offsets(consumer)

    with ingest_client(
        IngestSettings(kafka_bootstrap=bootstrap, ingest_unsigned_sources=("support",))
    ) as client:
        first = client.post(URL, json=ticket_body(ticket_id))
        again = client.post(URL, json=ticket_body(ticket_id, subject="再送: 請求書"))
    after = end_offsets(consumer)

    assert (first.status_code, again.status_code) == (202, 202)
    event_id = derived_id("support.ticket", "/sources/support", ticket_id)
    assert first.json()["id"] == again.json()["id"] == event_id
    records = with_id(records_between(consumer, before, after), event_id)
    assert len(records) == 2
    assert {r.key for r in records} == {b"example.co.jp"}
    # one account, one partition: the redelivery stays in order behind the first
    assert len({r.partition for r in records}) == 1


def test_closed_broker_port_is_503_within_the_ack_timeout_and_nothing_is_produced(
    bootstrap: str, consumer: KafkaConsumer
) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:10]}"
    settings = IngestSettings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        ingest_ack_timeout_s=2,
        ingest_unsigned_sources=("support",),
    )
    registry = CollectorRegistry()
    before = end_offsets(consumer)

    with ingest_client(settings, registry=registry) as client:
        started = time.monotonic()
        response = client.post(URL, json=ticket_body(ticket_id))
        elapsed = time.monotonic() - started
        health = client.get("/healthz")
    after = end_offsets(consumer)

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert "Kafka did not acknowledge" in response.json()["detail"]
    assert elapsed < settings.ingest_ack_timeout_s + 1
    assert health.status_code == 503
    assert health.json()["kafka"]["reachable"] is False
    event_id = derived_id("support.ticket", "/sources/support", ticket_id)
    assert with_id(records_between(consumer, before, after), event_id) == []
    labels = {"source": "support", "outcome": "unavailable"}
    assert registry.get_sample_value("handoff_ingest_events_total", labels) == 1.0


class TcpProxy:
    """127.0.0.1:<port> forwarded to the broker while open: closed, Kafka looks down."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.port = free_port()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)
        self._sockets.append(listener)
        self._spawn(self._accept, listener)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            sock.close()

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.settimeout(0.1)
                self._sockets.append(sock)
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            sink.sendall(data)


@pytest.fixture
def proxy(bootstrap: str) -> Iterator[TcpProxy]:
    tunnel = TcpProxy(bootstrap)
    try:
        yield tunnel
    finally:
        tunnel.close()


def test_service_starts_while_kafka_is_down_and_recovers_when_it_is_back(
    proxy: TcpProxy, consumer: KafkaConsumer
) -> None:
    ticket_id = f"ZD-{uuid.uuid4().hex[:10]}"
    publisher = KafkaPublisher(f"127.0.0.1:{proxy.port}", ack_timeout_s=3)
    before = end_offsets(consumer)

    with ingest_client(
        IngestSettings(ingest_unsigned_sources=("support",)), publisher=publisher
    ) as client:
        down = client.post(URL, json=ticket_body(ticket_id))
        assert down.status_code == 503, down.text
        assert client.get("/healthz").status_code == 503

        proxy.open()
        time.sleep(1.1)  # the health answer is cached for a second
        assert client.get("/healthz").status_code == 200
        back = client.post(URL, json=ticket_body(ticket_id))
    publisher.close()
    after = end_offsets(consumer)

    assert back.status_code == 202, back.text
    [record] = with_id(records_between(consumer, before, after), back.json()["id"])
    assert record.key == b"example.co.jp"
