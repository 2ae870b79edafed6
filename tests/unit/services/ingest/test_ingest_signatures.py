"""Each signature scheme: valid, invalid, missing, stale timestamp; and a source's list of
schemes (the first whose credential the request carries decides)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.signatures import (
    Presented,
    SignatureError,
    Verifier,
    sign_handoff,
    sign_zendesk,
    verify_handoff,
    verify_zendesk,
)

SECRET = b"dGhpcyBpcyBhIHNlY3JldA=="
BODY = '{"ticket": {"id": 1, "subject": "請求書"}}'.encode()
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SKEW = 300.0


def zendesk_headers(
    at: datetime = NOW, body: bytes = BODY, secret: bytes = SECRET
) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "x-zendesk-webhook-signature": sign_zendesk(secret, stamp, body),
        "x-zendesk-webhook-signature-timestamp": stamp,
    }


def handoff_headers(
    at: datetime = NOW, body: bytes = BODY, secret: bytes = SECRET
) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    return {"x-handoff-signature": sign_handoff(secret, stamp, body), "x-handoff-timestamp": stamp}


SCHEMES = [(verify_zendesk, zendesk_headers), (verify_handoff, handoff_headers)]


def call(verify: object, headers: dict[str, str], body: bytes) -> None:
    """One scheme's verifier through the interface every scheme shares."""
    request = Presented("POST", "https://handoff.example.com/hook", headers, body)
    scheme: Verifier = verify  # type: ignore[assignment]
    scheme(SECRET, request, NOW, SKEW)


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
def test_valid(verify: object, headers: object) -> None:
    call(verify, headers(), BODY)  # type: ignore[operator]


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
def test_within_the_skew_either_way(verify: object, headers: object) -> None:
    for delta in (-299, 299):
        at = NOW + timedelta(seconds=delta)
        call(verify, headers(at), BODY)  # type: ignore[operator]


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
def test_invalid_other_secret(verify: object, headers: object) -> None:
    given = headers(secret=b"another secret")  # type: ignore[operator]
    with pytest.raises(SignatureError) as caught:
        call(verify, given, BODY)  # type: ignore[operator]
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
def test_invalid_other_body(verify: object, headers: object) -> None:
    with pytest.raises(SignatureError) as caught:
        call(verify, headers(), BODY + b" ")  # type: ignore[operator]
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
def test_a_timestamp_moved_after_signing_is_invalid(verify: object, headers: object) -> None:
    given = headers()  # type: ignore[operator]
    stamp_key = next(k for k in given if "timestamp" in k)
    later = headers(NOW + timedelta(seconds=10))  # type: ignore[operator]
    given[stamp_key] = later[stamp_key]
    with pytest.raises(SignatureError) as caught:
        call(verify, given, BODY)  # type: ignore[operator]
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
@pytest.mark.parametrize("drop", ["signature", "timestamp", "both"])
def test_missing(verify: object, headers: object, drop: str) -> None:
    given = {
        k: v
        for k, v in headers().items()  # type: ignore[operator]
        if not (drop == "both" or k.endswith(drop) or (drop == "signature" and k.endswith("ture")))
    }
    with pytest.raises(SignatureError) as caught:
        call(verify, given, BODY)  # type: ignore[operator]
    assert caught.value.reason == "missing"


@pytest.mark.parametrize(("verify", "headers"), SCHEMES)
@pytest.mark.parametrize("delta", [-301, 301, -86400])
def test_stale_timestamp(verify: object, headers: object, delta: int) -> None:
    given = headers(NOW + timedelta(seconds=delta))  # type: ignore[operator]
    with pytest.raises(SignatureError) as caught:
        call(verify, given, BODY)  # type: ignore[operator]
    assert caught.value.reason == "stale"


@pytest.mark.parametrize(
    ("headers", "verify"),
    [
        ({"x-handoff-signature": "sha256=00", "x-handoff-timestamp": "yesterday"}, verify_handoff),
        (
            {"x-handoff-signature": "md5=00", "x-handoff-timestamp": str(int(NOW.timestamp()))},
            verify_handoff,
        ),
        (
            {
                "x-zendesk-webhook-signature": "AA==",
                "x-zendesk-webhook-signature-timestamp": "soon",
            },
            verify_zendesk,
        ),
    ],
)
def test_malformed_headers_are_invalid(headers: dict[str, str], verify: object) -> None:
    with pytest.raises(SignatureError) as caught:
        call(verify, headers, BODY)  # type: ignore[operator]
    assert caught.value.reason == "invalid"


def test_zendesk_signature_is_base64_of_hmac_over_timestamp_and_body() -> None:
    # Zendesk's documented formula, computed here independently of the module
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new(b"key", b"2026-03-02T09:30:00Zbody", hashlib.sha256).digest()
    ).decode()
    assert sign_zendesk(b"key", "2026-03-02T09:30:00Z", b"body") == expected
