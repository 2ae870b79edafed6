"""Issue 16.9: each vendor's own way of proving a webhook, and a source's list of schemes.

HubSpot v3 is computed here from HubSpot's documented recipe, independently of the module:
"requestMethod + requestUri + requestBody + timestamp", HMAC-SHA256 with the app's client
secret, base64; reject a timestamp (Unix milliseconds) older than five minutes
(https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests,
https://developers.hubspot.com/changelog/introducing-version-3-of-webhook-signatures).
Freshdesk automations and Salesforce Flow HTTP callouts sign nothing: basic auth (a named
credential, the automation's "Requires authentication") or a secret in the URL path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.signatures import (
    Presented,
    SignatureError,
    sign_handoff,
    verify,
    verify_basic,
    verify_hubspot_v3,
    verify_path,
)

SECRET = b"hubspot-client-secret-0123"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BODY = b'[{"eventId":1,"subscriptionType":"deal.propertyChange","objectId":123}]'
URI = "https://handoff.example.com/v1/sources/hubspot/webhooks?portal=62515"


def hubspot_request(at: datetime = NOW, body: bytes = BODY, uri: str = URI) -> Presented:
    stamp = str(int(at.timestamp() * 1000))
    source = b"POST" + URI.encode() + BODY + stamp.encode()
    signature = base64.b64encode(hmac.new(SECRET, source, hashlib.sha256).digest()).decode()
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": stamp}
    return Presented("POST", uri, headers, body)


def test_hubspot_v3_as_documented_is_accepted() -> None:
    verify_hubspot_v3(SECRET, hubspot_request(), NOW, 300.0)


def test_hubspot_v3_decodes_the_escapes_hubspot_decodes() -> None:
    escaped = URI.replace("?portal=", "%3Fportal=")
    verify_hubspot_v3(SECRET, hubspot_request(uri=escaped), NOW, 300.0)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (hubspot_request(body=BODY + b" "), "invalid"),
        (hubspot_request(uri=URI.replace("handoff.", "evil.")), "invalid"),
        (hubspot_request(at=NOW - timedelta(minutes=5, seconds=2)), "stale"),
    ],
)
def test_hubspot_v3_refuses_another_body_uri_or_an_old_timestamp(
    request_: Presented, reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_hubspot_v3(SECRET, request_, NOW, 3600.0)  # five minutes, even if skew allows more
    assert caught.value.reason == reason


def basic(user: str, password: str) -> Presented:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Presented("POST", URI, {"authorization": f"Basic {token}"}, BODY)


def test_basic_auth_takes_the_secret_as_password_whatever_the_user() -> None:
    verify_basic(SECRET, basic("freshdesk", SECRET.decode()), NOW, 300.0)
    with pytest.raises(SignatureError, match="password"):
        verify_basic(SECRET, basic("freshdesk", "guess"), NOW, 300.0)
    with pytest.raises(SignatureError, match="base64"):
        verify_basic(SECRET, Presented("POST", URI, {"authorization": "Basic !!"}, BODY), NOW, 1)


def test_a_secret_in_the_path_must_be_the_secret() -> None:
    verify_path(SECRET, Presented("POST", URI, {}, BODY, SECRET.decode()), NOW, 300.0)
    with pytest.raises(SignatureError, match="path"):
        verify_path(SECRET, Presented("POST", URI, {}, BODY, "nope"), NOW, 300.0)


def test_the_first_scheme_whose_credential_is_carried_decides() -> None:
    stamp = str(int(NOW.timestamp()))
    handoff = {
        "x-handoff-signature": sign_handoff(SECRET, stamp, BODY),
        "x-handoff-timestamp": stamp,
    }
    schemes = ("basic", "path", "handoff")
    assert verify(
        schemes, SECRET, Presented("POST", URI, handoff, BODY), now=NOW, max_skew_s=300
    ) == ("handoff")
    assert verify(schemes, SECRET, basic("sf", SECRET.decode()), now=NOW, max_skew_s=300) == "basic"
    with pytest.raises(SignatureError) as wrong:  # a wrong password is not rescued by another
        verify(schemes, SECRET, basic("sf", "wrong"), now=NOW, max_skew_s=300)
    assert wrong.value.reason == "invalid"


def test_no_credential_says_what_the_source_accepts() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(("basic", "path"), SECRET, Presented("POST", URI, {}, BODY), now=NOW, max_skew_s=1)
    assert caught.value.reason == "missing"
    assert "Authorization: Basic" in caught.value.detail
    assert "URL" in caught.value.detail
