"""A HubSpot webhook subscription batch over HTTP, signed as HubSpot signs it (v3).

``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method + URI + body +
timestamp)) with ``X-HubSpot-Request-Timestamp`` in Unix milliseconds
(https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests);
the batch is the Webhooks API v3 payload (https://developers.hubspot.com/docs/api/webhooks,
fixture hubspot_subscription_events.json). The verifier is the one in
services/ingest/signatures.py.
"""

from __future__ import annotations

import json
from typing import Any

from services.ingest.signatures import sign_hubspot_v3

from .adapters.fixtures import load
from .endpoints import NOW, SECRET, make_ingest

PUBLIC = "https://handoff.example.com"
PATH = "/v1/sources/hubspot/webhooks"


def post(body: bytes, signature: str | None = None) -> Any:
    ingest = make_ingest(ingest_sources={"hubspot": {"public_url": PUBLIC}})
    stamp = str(int(NOW.timestamp() * 1000))
    signed = signature or sign_hubspot_v3(SECRET.encode(), "POST", PUBLIC + PATH, body, stamp)
    headers = {"Content-Type": "application/json", "X-HubSpot-Signature-v3": signed,
               "X-HubSpot-Request-Timestamp": stamp}  # fmt: skip
    return ingest, ingest.client.post(PATH, content=body, headers=headers)


def test_a_signed_batch_is_one_event_per_subscription_event() -> None:
    ingest, response = post(json.dumps(load("hubspot_subscription_events.json")).encode())
    assert response.status_code == 202, response.text
    intents = [e.data["intent"] for e in ingest.events()]
    assert intents == ["deal_won", "lead_status_changed", "lead_status_changed"]


def test_a_batch_signed_with_another_secret_is_401() -> None:
    body = json.dumps(load("hubspot_subscription_events.json")).encode()
    ingest, response = post(body, signature="bm90IHRoZSBzaWduYXR1cmU=")
    assert response.status_code == 401
    assert ingest.publisher.published == []


def test_an_unhandled_subscription_is_422_naming_hubspots_field() -> None:
    events = load("hubspot_subscription_events.json")
    events[1]["subscriptionType"] = "ticket.creation"
    ingest, response = post(json.dumps(events).encode())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", 1, "subscriptionType"]
    assert ingest.publisher.published == []
