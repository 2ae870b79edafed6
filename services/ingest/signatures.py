"""Webhook signatures, each source with its own scheme, within a bounded clock skew.

- Zendesk: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp + body))
  with the timestamp (ISO 8601) in ``X-Zendesk-Webhook-Signature-Timestamp``.
- handoff's generic scheme (every other source): ``X-Handoff-Signature: sha256=<hex>`` =
  HMAC-SHA256(secret, timestamp + "." + body) with the Unix time in seconds in
  ``X-Handoff-Timestamp``. Like GitHub's ``X-Hub-Signature-256``, but the timestamp is
  signed too, so a captured request cannot be replayed with a fresh time.

Pure functions on bytes: the app picks the scheme and the secret and turns a
:class:`SignatureError` into a 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from services.core.errors import HandoffError
from services.ingest.times import TimeRefusedError, parse_iso, skew_seconds

ZENDESK_SIGNATURE = "x-zendesk-webhook-signature"
ZENDESK_TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
HANDOFF_SIGNATURE = "x-handoff-signature"
HANDOFF_TIMESTAMP = "x-handoff-timestamp"
REASONS = ("missing", "invalid", "stale", "unconfigured")


class SignatureError(HandoffError):
    """A request whose signature does not prove it came from the source (a 401)."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown signature failure {reason!r}")
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def sign_zendesk(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_handoff(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_zendesk(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: datetime, max_skew_s: float
) -> None:
    signature, stamp = _headers(headers, ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP)
    _fresh(abs((now - _iso_time(stamp)).total_seconds()), max_skew_s)
    _same(signature, sign_zendesk(secret, stamp, body))


def verify_handoff(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: datetime, max_skew_s: float
) -> None:
    signature, stamp = _headers(headers, HANDOFF_SIGNATURE, HANDOFF_TIMESTAMP)
    _fresh(skew_seconds(_unix_seconds(stamp), now), max_skew_s)
    if not signature.startswith("sha256="):
        raise SignatureError("invalid", f"{HANDOFF_SIGNATURE} must be sha256=<hex>")
    _same(signature, sign_handoff(secret, stamp, body))


def _headers(headers: Mapping[str, str], signature: str, timestamp: str) -> tuple[str, str]:
    sig, stamp = headers.get(signature), headers.get(timestamp)
    missing = [name for name, value in ((signature, sig), (timestamp, stamp)) if not value]
    if sig is None or stamp is None or missing:
        raise SignatureError("missing", f"missing header(s): {', '.join(missing)}")
    return sig.strip(), stamp.strip()


def _unix_seconds(stamp: str) -> int:
    """Up to 12 ASCII digits; compared as a number, so even year 33658 is merely stale."""
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError("invalid", f"{HANDOFF_TIMESTAMP} must be Unix seconds")
    return int(stamp)


def _iso_time(stamp: str) -> datetime:
    """Zendesk's timestamp; one without a zone is UTC (as Zendesk sends it)."""
    try:
        return parse_iso(stamp)
    except TimeRefusedError as exc:
        if exc.kind == "timezone_aware":
            return _iso_time(stamp + "Z")
        raise SignatureError("invalid", f"{ZENDESK_TIMESTAMP} is not ISO 8601 ({exc})") from None


def _fresh(skew: float, max_skew_s: float) -> None:
    """Refuse a signature made more than ``max_skew_s`` from now (any time, however far)."""
    if skew > max_skew_s:
        raise SignatureError(
            "stale", f"the signature timestamp is {skew:.0f}s off (at most {max_skew_s:g}s)"
        )


def _same(given: str, expected: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError("invalid", "the signature does not match the body")
