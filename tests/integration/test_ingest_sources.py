"""Every source endpoint and the Kafka-native path against the real broker.

The broker is shared: each test reads only the offsets written while it ran and picks
its own events by their (unique) ids.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import SALES_NOTE, SUPPORT_TICKET, CloudEvent, derived_id
from services.ingest.app import create_app
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import KafkaPublisher
from services.ingest.raw import RawIngest, raw_topic
from services.ingest.settings import IngestSettings
from services.ingest.signatures import sign_handoff, sign_zendesk
from services.kafka_admin import ensure_topics
from tests.integration.test_ingest_kafka import TcpProxy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
SECRET = "integration-secret"
SOURCES = ("sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot")
WATCHED = (topics.INGEST_SUPPORT, topics.INGEST_SALES, topics.INGEST_CAPACITY, topics.DLQ)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    raw = [raw_topic(s) for s in ("hubspot", "zendesk")]
    ensure_topics(kafka_bootstrap, [*WATCHED, *raw], partitions=4)
    return kafka_bootstrap


class Reader:
    """Records written to the watched topics between ``mark`` and ``since_mark``."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        partitions = [
            TopicPartition(t, p)
            for t in WATCHED
            for p in sorted(self.consumer.partitions_for_topic(t) or [])
        ]
        self.consumer.assign(partitions)
        self.start: dict[TopicPartition, int] = {}

    def mark(self) -> None:
        self.start = self.consumer.end_offsets(list(self.consumer.assignment()))

    def since_mark(self, wanted: int = 0, timeout_s: float = 20) -> list[Any]:
        end = self.consumer.end_offsets(list(self.start))
        for tp, offset in self.start.items():
            self.consumer.seek(tp, offset)
        total = sum(end[tp] - self.start[tp] for tp in self.start)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < total and time.monotonic() < deadline:
            for tp, batch in self.consumer.poll(timeout_ms=300).items():
                records.extend(r for r in batch if r.offset < end[tp])
        assert len(records) >= max(total, wanted), f"read {len(records)} of {total}"
        return records


@pytest.fixture
def reader(bootstrap: str) -> Iterator[Reader]:
    r = Reader(bootstrap)
    try:
        yield r
    finally:
        r.consumer.close()


def settings_for(bootstrap: str, **extra: Any) -> IngestSettings:
    secrets = {f"ingest_secret_{s}": SecretStr(SECRET) for s in SOURCES}
    return IngestSettings.model_validate(
        {"kafka_bootstrap": bootstrap, "ingest_ack_timeout_s": 5} | secrets | extra
    )


def signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Handoff-Signature": sign_handoff(SECRET.encode(), stamp, body),
        "X-Handoff-Timestamp": stamp,
    }


def zendesk_signed(body: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign_zendesk(SECRET.encode(), stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def unique(run: str) -> dict[str, bytes]:
    """Each source's fixture with ids made unique to this run."""
    zendesk = load("zendesk_ticket_created.json")
    zendesk["ticket"]["id"] = f"zd-{run}"
    freshdesk = load("freshdesk_ticket_api.json") | {"id": f"fd-{run}"}
    salesforce = load("salesforce_opportunity_lost.json") | {"Id": f"006{run}"}
    hubspot = load("hubspot_deal_won.json") | {"id": f"hs-{run}"}
    note = {"note_id": f"n-{run}", "intent": "feature_request", "subject": "ダークモード",
            "rep_email": "rep@handoff-demo.com", "crm_account_id": f"acc-{run}"}  # fmt: skip
    capacity = {"plant": f"p-{run}", "line": "l1", "as_of": "2026-03-02T00:00:00Z",
                "free": [{"date": "2026-03-10", "units": 5}]}  # fmt: skip
    csv = f"plant,line,date,units,as_of\nc-{run},l2,2026-03-10,7,2026-03-02T00:00:00Z\n"

    def dump(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode()

    return {
        "/v1/sources/zendesk/webhooks": dump(zendesk),
        "/v1/sources/freshdesk/webhooks": dump(freshdesk),
        "/v1/sources/salesforce/webhooks": dump(salesforce),
        "/v1/sources/hubspot/webhooks": dump(hubspot),
        "/v1/sources/sales/notes": dump(note),
        "/v1/sources/capacity/updates": dump(capacity),
        "/v1/sources/capacity/csv": csv.encode(),
    }


def test_every_endpoint_produces_its_cloudevent(bootstrap: str, reader: Reader) -> None:
    run = uuid.uuid4().hex[:10]
    reader.mark()
    answers: dict[str, list[dict[str, str]]] = {}
    with TestClient(create_app(settings_for(bootstrap))) as client:
        for path, body in unique(run).items():
            if "zendesk" in path:
                headers = zendesk_signed(body)
            else:
                headers = signed(body, "text/csv" if path.endswith("csv") else "application/json")
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 202, (path, response.text)
            answers[path] = response.json()["events"]

    on_kafka = {CloudEvent.from_bytes(r.value).id: r for r in reader.since_mark(wanted=7)}
    for path, events in answers.items():
        for answered in events:
            record = on_kafka[answered["id"]]
            assert record.topic == answered["topic"], path
            assert record.key == answered["account"].encode(), path
            assert CloudEvent.from_bytes(record.value).type == answered["type"]
    zendesk = on_kafka[derived_id(SUPPORT_TICKET, "/sources/zendesk", f"zd-{run}")]
    assert "請求書の画面が分かりにくい".encode() in zendesk.value
    assert zendesk.key == b"company:ACME-JP-001"


def test_a_retried_webhook_is_the_same_event_id_on_one_partition(
    bootstrap: str, reader: Reader
) -> None:
    run = uuid.uuid4().hex[:10]
    body = unique(run)["/v1/sources/salesforce/webhooks"]
    reader.mark()
    with TestClient(create_app(settings_for(bootstrap))) as client:
        for _ in range(3):
            response = client.post(
                "/v1/sources/salesforce/webhooks", content=body, headers=signed(body)
            )
            assert response.status_code == 202
    event_id = derived_id(
        SALES_NOTE, "/sources/salesforce", "Opportunity", f"006{run}", "Closed Lost"
    )
    mine = [r for r in reader.since_mark(wanted=3) if CloudEvent.from_bytes(r.value).id == event_id]
    assert len(mine) == 3  # the router's dedup keeps the first: one task downstream
    assert len({(r.topic, r.partition) for r in mine}) == 1


def test_a_bad_signature_reaches_nothing(bootstrap: str, reader: Reader) -> None:
    body = unique(uuid.uuid4().hex[:10])["/v1/sources/hubspot/webhooks"]
    reader.mark()
    registry = CollectorRegistry()
    with TestClient(create_app(settings_for(bootstrap), registry=registry)) as client:
        headers = signed(body) | {"X-Handoff-Signature": "sha256=" + "0" * 64}
        response = client.post("/v1/sources/hubspot/webhooks", content=body, headers=headers)
    assert response.status_code == 401
    labels = {"source": "hubspot", "outcome": "unauthorized"}
    assert registry.get_sample_value("handoff_ingest_events_total", labels) == 1
    ids = {CloudEvent.from_bytes(r.value).id for r in reader.since_mark() if r.topic != topics.DLQ}
    assert not any(json.loads(body)["id"] in i for i in ids)


def test_broker_down_is_503_and_the_retry_after_it_is_back_lands_once(
    bootstrap: str, reader: Reader
) -> None:
    run = uuid.uuid4().hex[:10]
    body = unique(run)["/v1/sources/zendesk/webhooks"]
    proxy = TcpProxy(bootstrap)
    publisher = KafkaPublisher(f"127.0.0.1:{proxy.port}", ack_timeout_s=3)
    reader.mark()
    try:
        with TestClient(create_app(settings_for(bootstrap), publisher=publisher)) as client:
            down = client.post(
                "/v1/sources/zendesk/webhooks", content=body, headers=zendesk_signed(body)
            )
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "5"
            proxy.open()
            back = client.post(
                "/v1/sources/zendesk/webhooks", content=body, headers=zendesk_signed(body)
            )
        assert back.status_code == 202, back.text
    finally:
        publisher.close()
        proxy.close()
    event_id = derived_id(SUPPORT_TICKET, "/sources/zendesk", f"zd-{run}")
    mine = [r for r in reader.since_mark(wanted=1) if CloudEvent.from_bytes(r.value).id == event_id]
    assert len(mine) == 1  # nothing lost, nothing doubled


def test_kafka_native_source_normalises_dead_letters_and_commits(
    bootstrap: str, reader: Reader
) -> None:
    run = uuid.uuid4().hex[:10]
    good = json.dumps(load("hubspot_deal_won.json") | {"id": f"raw-{run}"}).encode()
    bad = json.dumps({"id": f"bad-{run}", "properties": {"dealstage": "closedwon"}}).encode()
    topic = raw_topic("hubspot")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    reader.mark()
    producer.send(topic, key=f"k-{run}".encode(), value=good).get(timeout=10)
    producer.send(topic, key=f"k-{run}".encode(), value=bad).get(timeout=10)
    producer.close()

    group = f"test-raw-{run}"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
    )
    publisher = KafkaPublisher(bootstrap, ack_timeout_s=5)
    registry = CollectorRegistry()
    worker = RawIngest(consumer, publisher, IngestMetrics(registry))
    found: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(found) < 2:
            worker.poll_once(timeout_ms=300)
            for record in reader.since_mark():
                if record.topic == topics.DLQ:
                    letter = DeadLetter.from_bytes(record.value)
                    if letter.original_value() == bad:
                        found["dlq"] = letter
                elif CloudEvent.from_bytes(record.value).subject == f"raw-{run}":
                    found["event"] = record
        committed = consumer.committed(TopicPartition(topic, found["dlq"].partition))
    finally:
        consumer.close(autocommit=False)
        publisher.close()

    assert found["event"].topic == topics.INGEST_SALES
    assert found["event"].key == b"company:9876543210"
    assert CloudEvent.from_bytes(found["event"].value).data["intent"] == "deal_won"
    letter = found["dlq"]
    assert letter.topic == topic
    assert letter.service == "ingest"
    assert "associations.companies" in letter.reason  # HubSpot's field: no account
    assert committed == letter.offset + 1  # committed past both, after the acks
