"""Issue 16.6/16.9 at the HTTP edge: each source's schemes, the path secret, the event
webhook and its labels, through ingest's app (Kafka faked).

HubSpot v3 is computed from HubSpot's recipe (method + URI + body + timestamp, base64
HMAC-SHA256, https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests);
the Zendesk event body follows
https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest

from services.ingest.sources import RedactPathSecrets

from .test_ingest_sources import NOW, SECRET, Ingest, make_ingest, zendesk_post

FRESHDESK = {"id": 88, "subject": "ログインできない", "email": "b@beta.example", "priority": 3}
PATH = "/v1/sources/freshdesk/webhooks"


def post(ingest: Ingest, path: str, body: object, **headers: str) -> tuple[int, dict[str, object]]:
    response = ingest.client.post(
        path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )
    return response.status_code, response.json()


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"automation:{password}".encode()).decode()


def test_freshdesk_proves_itself_by_basic_auth_or_a_secret_in_the_path() -> None:
    ingest = make_ingest()
    assert post(ingest, PATH, FRESHDESK, Authorization=basic(SECRET))[0] == 202
    assert post(ingest, f"{PATH}/{SECRET}", FRESHDESK)[0] == 202
    status, body = post(ingest, f"{PATH}/guessed", FRESHDESK)
    assert (status, "path" in str(body["detail"])) == (401, True)
    status, body = post(ingest, PATH, FRESHDESK)
    assert status == 401
    assert "Authorization: Basic" in str(body["detail"])


def test_a_source_configured_without_the_path_scheme_has_no_path_route() -> None:
    ingest = make_ingest(ingest_sources={"freshdesk": {"schemes": ["basic"]}})
    assert post(ingest, f"{PATH}/{SECRET}", FRESHDESK)[0] == 404
    assert post(ingest, PATH, FRESHDESK, Authorization=basic(SECRET))[0] == 202


def test_hubspot_signs_the_uri_it_called_behind_a_proxy() -> None:
    ingest = make_ingest(ingest_sources={"hubspot": {"public_url": "https://handoff.example.com"}})
    body = json.dumps([{"eventId": 1, "subscriptionType": "deal.creation", "objectId": 1}]).encode()
    stamp = str(int(NOW.timestamp() * 1000))
    uri = "https://handoff.example.com/v1/sources/hubspot/webhooks"
    mac = hmac.new(SECRET.encode(), b"POST" + uri.encode() + body + stamp.encode(), hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(mac.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    response = ingest.client.post("/v1/sources/hubspot/webhooks", content=body, headers=headers)
    assert response.status_code != 401, response.text  # the payload itself is issue 11's
    headers["X-HubSpot-Request-Timestamp"] = str(int(stamp) + 1)
    response = ingest.client.post("/v1/sources/hubspot/webhooks", content=body, headers=headers)
    assert response.status_code == 401


def test_a_zendesk_event_webhook_is_accepted_with_its_labels() -> None:
    labels = {"component": {"tag_prefix": "component_"}}
    ingest = make_ingest(ingest_sources={"zendesk": {"labels": labels}})
    event = {
        "account_id": 22129848,
        "detail": {"id": "5158", "subject": "請求書", "priority": "HIGH", "status": "NEW",
                   "requester_id": "844", "organization_id": "8447", "tags": ["component_invoices"],
                   "created_at": "2026-03-02T11:00:00Z", "updated_at": "2026-03-02T11:00:00Z"},
        "event": {},
        "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
        "subject": "zen:ticket:5158",
        "time": "2026-03-02T11:00:00Z",
        "type": "zen:event-type:ticket.created",
        "zendesk_event_version": "2022-11-06",
    }  # fmt: skip
    response = zendesk_post(ingest, json.dumps(event).encode())
    assert response.status_code == 202, response.text
    [ticket] = ingest.events()
    assert (ticket.data["component"], ticket.data["priority"]) == ("invoices", "high")
    event["type"] = "zen:event-type:organization.created"
    refused = zendesk_post(ingest, json.dumps(event).encode())
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "type"]


def test_the_access_log_never_shows_a_path_secret(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"{PATH}/{SECRET}?x=1", "1.1", 202), None,
    )  # fmt: skip
    RedactPathSecrets().filter(record)
    assert SECRET not in record.getMessage()
    assert f"{PATH}/***" in record.getMessage()
