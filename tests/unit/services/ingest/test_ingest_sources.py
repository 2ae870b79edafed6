"""The per-source endpoints: signatures (401, counted, body not logged), 422/415/413/503."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas import topics
from schemas.events import SUPPORT_TICKET, SUPPORT_TICKET_UPDATED, CloudEvent, derived_id
from services.ingest.app import create_app
from services.ingest.publisher import BrokerHealth, PublishError
from services.ingest.settings import IngestSettings
from services.ingest.signatures import sign_handoff, sign_zendesk

from .adapters.fixtures import load, text

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"


@dataclass
class FakeEventPublisher:
    down: bool = False
    published: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        if self.down:
            raise PublishError(topic, "Kafka did not acknowledge within 2s")
        self.published.append((topic, key, value))

    def check(self) -> BrokerHealth:
        return BrokerHealth(not self.down, "fake")

    def close(self) -> None:
        pass


@dataclass
class Ingest:
    client: TestClient
    publisher: FakeEventPublisher
    registry: CollectorRegistry

    def count(self, source: str, outcome: str) -> float:
        labels = {"source": source, "outcome": outcome}
        return self.registry.get_sample_value("handoff_ingest_events_total", labels) or 0.0

    def events(self) -> list[CloudEvent]:
        return [CloudEvent.from_bytes(v) for _, _, v in self.publisher.published]


def make_ingest(**settings: Any) -> Ingest:
    secrets = {
        f"ingest_secret_{s}": SecretStr(SECRET)
        for s in ("sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot")
    }
    publisher = FakeEventPublisher()
    registry = CollectorRegistry()
    config = IngestSettings.model_validate(secrets | {"ingest_max_body_bytes": 64_000} | settings)
    app = create_app(config, publisher=publisher, registry=registry, clock=lambda: NOW)
    return Ingest(TestClient(app), publisher, registry)


@pytest.fixture
def ingest() -> Ingest:
    return make_ingest()


def zendesk_post(ingest: Ingest, body: bytes, at: datetime = NOW, secret: str = SECRET) -> Any:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": sign_zendesk(secret.encode(), stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    return ingest.client.post("/v1/sources/zendesk/webhooks", content=body, headers=headers)


def signed_post(
    ingest: Ingest,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    at: datetime = NOW,
    secret: str = SECRET,
) -> Any:
    stamp = str(int(at.timestamp()))
    headers = {
        "Content-Type": content_type,
        "X-Handoff-Signature": sign_handoff(secret.encode(), stamp, body),
        "X-Handoff-Timestamp": stamp,
    }
    return ingest.client.post(path, content=body, headers=headers)


def raw(name: str) -> bytes:
    return json.dumps(load(name), ensure_ascii=False).encode()


def test_a_signed_zendesk_update_is_two_linked_events(ingest: Ingest) -> None:
    response = zendesk_post(ingest, raw("zendesk_priority_changed.json"))

    assert response.status_code == 202, response.text
    ticket_id = derived_id(SUPPORT_TICKET, "/sources/zendesk", "35436")
    assert [e["type"] for e in response.json()["events"]] == [
        SUPPORT_TICKET,
        SUPPORT_TICKET_UPDATED,
    ]
    assert response.json()["events"][0] == {
        "id": ticket_id,
        "type": SUPPORT_TICKET,
        "topic": topics.INGEST_SUPPORT,
        "account": "company:ACME-JP-001",
    }
    ticket, update = ingest.events()
    assert update.data["ticket_event_id"] == ticket.id == ticket_id
    assert {k for _, k, _ in ingest.publisher.published} == {b"company:ACME-JP-001"}
    assert ingest.count("zendesk", "accepted") == 1


@pytest.mark.parametrize(
    ("path", "fixture", "topic"),
    [
        ("/v1/sources/freshdesk/webhooks", "freshdesk_ticket_api.json", topics.INGEST_SUPPORT),
        (
            "/v1/sources/salesforce/webhooks",
            "salesforce_opportunity_lost.json",
            topics.INGEST_SALES,
        ),
        ("/v1/sources/hubspot/webhooks", "hubspot_deal_won.json", topics.INGEST_SALES),
    ],
)
def test_each_generic_source_with_its_signature(
    ingest: Ingest, path: str, fixture: str, topic: str
) -> None:
    response = signed_post(ingest, path, raw(fixture))
    assert response.status_code == 202, response.text
    assert [t for t, _, _ in ingest.publisher.published] == [topic]


def test_handoff_sales_note_and_capacity_json(ingest: Ingest) -> None:
    note = {
        "note_id": "N-9",
        "intent": "quote_request",
        "subject": "見積もり",
        "rep_email": "rep@handoff-demo.com",
        "company_id": "C-1",
    }
    capacity = {
        "plant": "P1",
        "line": "l1",
        "as_of": "2026-03-02T00:00:00Z",
        "free": [{"date": "2026-03-10", "units": 5}],
    }
    a = signed_post(ingest, "/v1/sources/sales/notes", json.dumps(note).encode())
    b = signed_post(ingest, "/v1/sources/capacity/updates", json.dumps(capacity).encode())
    assert (a.status_code, b.status_code) == (202, 202), (a.text, b.text)
    assert [k for _, k, _ in ingest.publisher.published] == [b"company:C-1", b"capacity:P1/l1"]


def test_capacity_csv_upload(ingest: Ingest) -> None:
    body = text("capacity.csv").encode()
    response = signed_post(ingest, "/v1/sources/capacity/csv", body, "text/csv; charset=utf-8")
    assert response.status_code == 202, response.text
    assert len(response.json()["events"]) == 2


def test_csv_with_a_bad_row_is_422_naming_the_row(ingest: Ingest) -> None:
    body = b"plant,line,date,units,as_of\nP,L,2026-03-10,many,2026-03-02T00:00:00Z\n"
    response = signed_post(ingest, "/v1/sources/capacity/csv", body, "text/csv")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["row", 2, "units"]  # as the header says
    assert ingest.publisher.published == []


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda ing, body: zendesk_post(ing, body, secret="wrong"), "invalid"),
        (lambda ing, body: zendesk_post(ing, body, at=NOW - timedelta(minutes=6)), "stale"),
        (
            lambda ing, body: ing.client.post(
                "/v1/sources/zendesk/webhooks",
                content=body,
                headers={"Content-Type": "application/json"},
            ),
            "missing",
        ),
    ],
)
def test_a_bad_zendesk_signature_is_401_counted_and_the_body_not_logged(
    ingest: Ingest, tamper: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = tamper(ingest, raw("zendesk_ticket_created.json"))

    assert response.status_code == 401
    assert "signature refused" in response.json()["detail"]
    assert ingest.publisher.published == []
    assert ingest.count("zendesk", "unauthorized") == 1
    labels = {"source": "zendesk", "reason": reason}
    assert ingest.registry.get_sample_value("handoff_ingest_signature_failures_total", labels) == 1
    assert "請求書" not in caplog.text
    assert "taro.yamada" not in caplog.text


@pytest.mark.parametrize("reason", ["invalid", "stale", "missing"])
def test_a_bad_generic_signature_is_401(ingest: Ingest, reason: str) -> None:
    path, body = "/v1/sources/hubspot/webhooks", raw("hubspot_deal_won.json")
    if reason == "invalid":
        response = signed_post(ingest, path, body, secret="wrong")
    elif reason == "stale":
        response = signed_post(ingest, path, body, at=NOW + timedelta(minutes=10))
    else:
        response = ingest.client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    labels = {"source": "hubspot", "reason": reason}
    assert ingest.registry.get_sample_value("handoff_ingest_signature_failures_total", labels) == 1


def test_a_source_without_a_secret_is_refused_by_default() -> None:
    ingest = make_ingest(ingest_secret_zendesk=None)
    response = zendesk_post(ingest, raw("zendesk_ticket_created.json"))
    assert response.status_code == 401
    assert "HANDOFF_INGEST_SECRET_ZENDESK" in response.json()["detail"]


def test_a_source_listed_as_unsigned_accepts_unsigned_requests() -> None:
    ingest = make_ingest(ingest_secret_zendesk=None, ingest_unsigned_sources=("support", "zendesk"))
    response = ingest.client.post(
        "/v1/sources/zendesk/webhooks",
        content=raw("zendesk_ticket_created.json"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def test_support_is_unsigned_only_when_listed_and_checks_a_configured_secret() -> None:
    body = json.dumps({"ticket_id": "T1", "subject": "s", "requester_email": "a@b.example"})
    refused = make_ingest().client.post(
        "/v1/sources/support/tickets", content=body, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 401  # issue 16.9: never unsigned by default
    assert "HANDOFF_INGEST_SECRET_SUPPORT" in refused.json()["detail"]
    unsigned = make_ingest(ingest_unsigned_sources=("support",))
    assert (
        unsigned.client.post(
            "/v1/sources/support/tickets",
            content=body,
            headers={"Content-Type": "application/json"},
        ).status_code
        == 202
    )
    signed = make_ingest(ingest_secret_support=SecretStr(SECRET))
    path = "/v1/sources/support/tickets"
    assert (
        signed.client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    assert signed_post(signed, path, body.encode()).status_code == 202


def test_invalid_payloads_are_422_naming_the_field(ingest: Ingest) -> None:
    body = json.dumps(
        {
            "ticket": {
                "id": 1,
                "subject": "x",
                "priority": "critical",
                "requester": {"email": "a@b.example"},
            }
        }
    ).encode()
    response = zendesk_post(ingest, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ticket", "priority"]
    assert ingest.count("zendesk", "rejected") == 1


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, ""),
    ],
)
def test_bodies_that_are_not_json(body: bytes, msg: str) -> None:
    ingest = make_ingest(ingest_max_body_bytes=1024 * 1024)
    response = signed_post(ingest, "/v1/sources/freshdesk/webhooks", body)
    assert response.status_code == 422
    assert msg in response.json()["detail"][0]["msg"]


def test_wrong_media_type_is_415_and_too_large_is_413(ingest: Ingest) -> None:
    body = raw("hubspot_deal_won.json")
    assert (
        signed_post(ingest, "/v1/sources/hubspot/webhooks", body, "text/plain").status_code == 415
    )
    csv_as_json = signed_post(ingest, "/v1/sources/capacity/csv", b"a,b\n", "application/json")
    assert csv_as_json.status_code == 415
    big = b'{"x": "' + b"a" * 70_000 + b'"}'
    assert signed_post(ingest, "/v1/sources/hubspot/webhooks", big).status_code == 413
    assert ingest.count("hubspot", "unsupported_media") == 1
    assert ingest.count("hubspot", "too_large") == 1


def test_kafka_down_is_503_with_retry_after(ingest: Ingest) -> None:
    ingest.publisher.down = True
    response = zendesk_post(ingest, raw("zendesk_ticket_created.json"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert ingest.count("zendesk", "unavailable") == 1


JAPANESE_CSV = (
    "工場,ライン,製品,日付,空き数量,基準日時\r\n"
    '浜松,L1,WX-300,2026-03-10,"5,000",2026-03-02T09:00:00+09:00\r\n'
)


@pytest.mark.parametrize(
    ("codec", "content_type"),
    [
        ("cp932", "text/csv"),
        ("shift_jis", "text/csv; charset=Shift_JIS"),
        ("utf-8-sig", "text/csv"),
    ],
)
def test_a_capacity_csv_saved_by_japanese_excel(
    ingest: Ingest, codec: str, content_type: str
) -> None:
    """Japanese Excel's "CSV" is cp932 (Shift_JIS); its "CSV UTF-8" has a BOM (issue 11, 6)."""
    body = JAPANESE_CSV.encode(codec)
    response = signed_post(ingest, "/v1/sources/capacity/csv", body, content_type)
    assert response.status_code == 202, response.text
    [(_, key, value)] = ingest.publisher.published
    assert key == "capacity:浜松/l1".encode()
    assert json.loads(value)["data"]["products"] == ["wx-300"]


def test_a_csv_in_another_declared_charset_is_422_naming_the_line(ingest: Ingest) -> None:
    body = JAPANESE_CSV.encode("cp932")
    response = signed_post(ingest, "/v1/sources/capacity/csv", body, "text/csv; charset=utf-8")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["row", 1]
