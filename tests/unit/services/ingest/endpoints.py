"""Every ingest endpoint with a good vendor-shaped payload, signed, for hostile-input tests.

The payloads are the fixtures in tests/fixtures/ingest (shaped after each vendor's
documentation, cited there) and handoff's own contract; every source has a secret,
support too, so the signature path runs before every body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from schemas.events import CloudEvent
from services.ingest.app import create_app
from services.ingest.publisher import BrokerHealth
from services.ingest.settings import IngestSettings
from services.ingest.signatures import sign_handoff, sign_zendesk

from .adapters.fixtures import load, text

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECRET = "s3cret-for-hostile-tests"
SOURCES = ("support", "sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot")
JSON = "application/json"


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    payload: Any  # parsed JSON, or CSV text
    media: str = JSON

    def body(self, payload: Any | None = None) -> bytes:
        payload = self.payload if payload is None else payload
        if self.media == JSON:
            return json.dumps(payload).encode()  # non-ASCII as \u escapes
        return str(payload).encode("utf-8", "surrogatepass")


def ticket(**overrides: Any) -> dict[str, Any]:
    return {
        "ticket_id": "ZD-1001",
        "subject": "The invoice screen is confusing",
        "requester_email": "taro@example.co.jp",
        "priority": "high",
        "component": "billing-ui",
        "created_at": "2026-03-02T11:50:00Z",
    } | overrides


def sales_note(**overrides: Any) -> dict[str, Any]:
    return {
        "note_id": "N-1",
        "intent": "quote_request",
        "subject": "Quote for 500 units",
        "rep_email": "rep.one@handoff-demo.com",
        "customer_email": "buyer@acme.example",
        "created_at": "2026-03-02T11:00:00Z",
    } | overrides


def capacity(**overrides: Any) -> dict[str, Any]:
    return {
        "plant": "nagoya-1",
        "line": "line-a",
        "as_of": "2026-03-02T06:00:00+09:00",
        "free": [{"date": "2026-03-10", "units": 1200}],
    } | overrides


ENDPOINTS = (
    Endpoint("support", "/v1/sources/support/tickets", ticket()),
    Endpoint("sales", "/v1/sources/sales/notes", sales_note()),
    Endpoint("capacity", "/v1/sources/capacity/updates", capacity()),
    Endpoint("capacity-csv", "/v1/sources/capacity/csv", text("capacity.csv"), "text/csv"),
    Endpoint("zendesk", "/v1/sources/zendesk/webhooks", load("zendesk_ticket_created.json")),
    Endpoint("freshdesk", "/v1/sources/freshdesk/webhooks", load("freshdesk_ticket_api.json")),
    Endpoint(
        "salesforce", "/v1/sources/salesforce/webhooks", load("salesforce_opportunity_lost.json")
    ),
    Endpoint("hubspot", "/v1/sources/hubspot/webhooks", load("hubspot_deal_won.json")),
)
BY_NAME = {e.name: e for e in ENDPOINTS}


@dataclass
class FakeEventPublisher:
    published: list[tuple[str, bytes, bytes]] = field(default_factory=list)

    def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.published.append((topic, key, value))

    def check(self) -> BrokerHealth:
        return BrokerHealth(True, "fake")

    def close(self) -> None:
        pass


@dataclass
class Ingest:
    client: TestClient
    publisher: FakeEventPublisher

    def post(
        self,
        endpoint: Endpoint,
        body: bytes,
        *,
        media: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        signed = signature(endpoint, body) | {"Content-Type": media or endpoint.media}
        return self.client.post(endpoint.path, content=body, headers=signed | (headers or {}))

    def events(self) -> list[CloudEvent]:
        return [CloudEvent.from_bytes(value) for _, _, value in self.publisher.published]


def signature(endpoint: Endpoint, body: bytes, at: datetime = NOW) -> dict[str, str]:
    if endpoint.name == "zendesk":
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "X-Zendesk-Webhook-Signature": sign_zendesk(SECRET.encode(), stamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
    unix = str(int(at.timestamp()))
    return {
        "X-Handoff-Signature": sign_handoff(SECRET.encode(), unix, body),
        "X-Handoff-Timestamp": unix,
    }


def make_ingest(**settings: Any) -> Ingest:
    secrets = {f"ingest_secret_{s}": SecretStr(SECRET) for s in SOURCES}
    config = IngestSettings.model_validate(secrets | {"ingest_max_body_bytes": 256_000} | settings)
    publisher = FakeEventPublisher()
    app = create_app(config, publisher=publisher, registry=CollectorRegistry(), clock=lambda: NOW)
    return Ingest(TestClient(app, raise_server_exceptions=False), publisher)
