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
from datetime import UTC, datetime

from services.core.errors import HandoffError

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
    _fresh(_iso_time(stamp), now, max_skew_s)
    _same(signature, sign_zendesk(secret, stamp, body))


def verify_handoff(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: datetime, max_skew_s: float
) -> None:
    signature, stamp = _headers(headers, HANDOFF_SIGNATURE, HANDOFF_TIMESTAMP)
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError("invalid", f"{HANDOFF_TIMESTAMP} must be Unix seconds")
    _fresh(datetime.fromtimestamp(int(stamp), UTC), now, max_skew_s)
    if not signature.startswith("sha256="):
        raise SignatureError("invalid", f"{HANDOFF_SIGNATURE} must be sha256=<hex>")
    _same(signature, sign_handoff(secret, stamp, body))


def _headers(headers: Mapping[str, str], signature: str, timestamp: str) -> tuple[str, str]:
    sig, stamp = headers.get(signature), headers.get(timestamp)
    missing = [name for name, value in ((signature, sig), (timestamp, stamp)) if not value]
    if sig is None or stamp is None or missing:
        raise SignatureError("missing", f"missing header(s): {', '.join(missing)}")
    return sig.strip(), stamp.strip()


def _iso_time(stamp: str) -> datetime:
    raw = stamp[:-1] + "+00:00" if stamp.endswith(("Z", "z")) else stamp
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SignatureError("invalid", f"{ZENDESK_TIMESTAMP} is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fresh(stamp: datetime, now: datetime, max_skew_s: float) -> None:
    skew = abs((now - stamp).total_seconds())
    if skew > max_skew_s:
        raise SignatureError(
            "stale", f"the signature timestamp is {skew:.0f}s off (at most {max_skew_s:g}s)"
        )


def _same(given: str, expected: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError("invalid", "the signature does not match the body")
