"""How a webhook proves its sender: one verifier per scheme, all with one interface.

Each scheme is a function ``(secret, request, now, max_skew_s) -> None`` that raises a
:class:`SignatureError` (a 401 at the edge); a source lists the schemes it accepts, and a
request is judged by the first of them whose credential it carries (:func:`verify`).

- ``zendesk``: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(secret, timestamp +
  body)) with the timestamp (ISO 8601) in ``X-Zendesk-Webhook-Signature-Timestamp``.
- ``hubspot-v3``: ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(client secret, method +
  URI + body + timestamp)) with Unix milliseconds in ``X-HubSpot-Request-Timestamp``,
  refused when older than five minutes (HubSpot's rule, whatever the configured skew)
  https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
- ``handoff``: ``X-Handoff-Signature: sha256=<hex>`` = HMAC-SHA256(secret, timestamp +
  "." + body) with the Unix time in seconds in ``X-Handoff-Timestamp``. Like GitHub's
  ``X-Hub-Signature-256``, but the timestamp is signed too, so a captured request cannot
  be replayed with a fresh time.
- ``basic``: ``Authorization: Basic`` whose password is the secret (any user name), for
  tools that can only send basic auth (a Freshdesk automation, a Salesforce named
  credential).
- ``path``: the secret as the last segment of the webhook's URL
  (``/v1/sources/freshdesk/webhooks/<secret>``), for tools that can send nothing else.

Pure functions on bytes: the app picks the schemes and the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.core.errors import HandoffError
from services.ingest.times import TimeRefusedError, parse_iso, skew_seconds

ZENDESK_SIGNATURE = "x-zendesk-webhook-signature"
ZENDESK_TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
HANDOFF_SIGNATURE = "x-handoff-signature"
HANDOFF_TIMESTAMP = "x-handoff-timestamp"
HUBSPOT_SIGNATURE = "x-hubspot-signature-v3"
HUBSPOT_TIMESTAMP = "x-hubspot-request-timestamp"
HUBSPOT_MAX_AGE_S = 300.0
AUTHORIZATION = "authorization"
REASONS = ("missing", "invalid", "stale", "unconfigured")
# HubSpot: "decode any URL-encoded characters" of this list before signing the URI
HUBSPOT_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


class SignatureError(HandoffError):
    """A request whose signature does not prove it came from the source (a 401)."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown signature failure {reason!r}")
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Presented:
    """What a request shows: method, the URI its sender called, headers, body, path secret."""

    method: str
    uri: str
    headers: Mapping[str, str]
    body: bytes
    path_secret: str | None = None


Verifier = Callable[[bytes, Presented, datetime, float], None]


def verify(
    schemes: Sequence[str],
    secret: bytes,
    request: Presented,
    *,
    now: datetime,
    max_skew_s: float,
) -> str:
    """The scheme that proved the request; the first scheme whose credential it carries decides."""
    for name in schemes:
        if carries(name, request):
            SCHEMES[name](secret, request, now, max_skew_s)
            return name
    expected = "; ".join(CREDENTIALS[name] for name in schemes)
    raise SignatureError("missing", f"no credential; expected {expected}")


def carries(scheme: str, request: Presented) -> bool:
    """Whether the request carries the scheme's credential at all (right or wrong)."""
    if scheme == "path":
        return request.path_secret is not None
    if scheme == "basic":
        return _header(request, AUTHORIZATION).lower().startswith("basic ")
    return bool(_header(request, SIGNED_BY[scheme]))


# ---- signing (what the sender computes) ----------------------------------------------------


def sign_zendesk(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_handoff(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_hubspot_v3(secret: bytes, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + hubspot_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret, source, hashlib.sha256).digest()).decode("ascii")


def hubspot_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed %XX escapes decoded (either case)."""
    for escaped, plain in HUBSPOT_DECODED.items():
        uri = uri.replace(escaped, plain).replace(escaped.lower(), plain)
    return uri


# ---- verifying ------------------------------------------------------------------------------


def verify_zendesk(secret: bytes, request: Presented, now: datetime, max_skew_s: float) -> None:
    signature, stamp = _pair(request, ZENDESK_SIGNATURE, ZENDESK_TIMESTAMP)
    _fresh(abs((now - _iso_time(stamp)).total_seconds()), max_skew_s)
    _same(signature, sign_zendesk(secret, stamp, request.body))


def verify_handoff(secret: bytes, request: Presented, now: datetime, max_skew_s: float) -> None:
    signature, stamp = _pair(request, HANDOFF_SIGNATURE, HANDOFF_TIMESTAMP)
    _fresh(skew_seconds(_unix(stamp, HANDOFF_TIMESTAMP), now), max_skew_s)
    if not signature.startswith("sha256="):
        raise SignatureError("invalid", f"{HANDOFF_SIGNATURE} must be sha256=<hex>")
    _same(signature, sign_handoff(secret, stamp, request.body))


def verify_hubspot_v3(secret: bytes, request: Presented, now: datetime, max_skew_s: float) -> None:
    signature, stamp = _pair(request, HUBSPOT_SIGNATURE, HUBSPOT_TIMESTAMP)
    sent_at = _unix(stamp, HUBSPOT_TIMESTAMP, digits=15) / 1000
    _fresh(skew_seconds(int(sent_at), now), min(max_skew_s, HUBSPOT_MAX_AGE_S))
    expected = sign_hubspot_v3(secret, request.method, request.uri, request.body, stamp)
    _same(signature, expected)


def verify_basic(secret: bytes, request: Presented, now: datetime, max_skew_s: float) -> None:
    """``Authorization: Basic base64(user:secret)``; the user name is not checked."""
    encoded = _header(request, AUTHORIZATION).strip()[len("basic ") :].strip()
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("invalid", "Authorization: Basic is not base64") from None
    _, colon, password = decoded.partition(b":")
    if not colon:
        raise SignatureError("invalid", "Authorization: Basic must be user:password")
    _same_bytes(password, secret, "the basic-auth password is not the source's secret")


def verify_path(secret: bytes, request: Presented, now: datetime, max_skew_s: float) -> None:
    given = (request.path_secret or "").encode()
    _same_bytes(given, secret, "the secret in the URL path is not the source's secret")


SCHEMES: dict[str, Verifier] = {
    "zendesk": verify_zendesk,
    "hubspot-v3": verify_hubspot_v3,
    "handoff": verify_handoff,
    "basic": verify_basic,
    "path": verify_path,
}
SIGNED_BY = {"zendesk": ZENDESK_SIGNATURE, "hubspot-v3": HUBSPOT_SIGNATURE,
             "handoff": HANDOFF_SIGNATURE}  # fmt: skip
CREDENTIALS = {
    "zendesk": "X-Zendesk-Webhook-Signature (+ -Timestamp)",
    "hubspot-v3": "X-HubSpot-Signature-v3 (+ X-HubSpot-Request-Timestamp)",
    "handoff": "X-Handoff-Signature (+ X-Handoff-Timestamp)",
    "basic": "Authorization: Basic with the secret as password",
    "path": "the secret as the URL's last path segment",
}


def _header(request: Presented, name: str) -> str:
    return request.headers.get(name) or ""


def _pair(request: Presented, signature: str, timestamp: str) -> tuple[str, str]:
    sig, stamp = _header(request, signature).strip(), _header(request, timestamp).strip()
    missing = [name for name, value in ((signature, sig), (timestamp, stamp)) if not value]
    if missing:
        raise SignatureError("missing", f"missing header(s): {', '.join(missing)}")
    return sig, stamp


def _unix(stamp: str, header: str, digits: int = 12) -> int:
    """Up to ``digits`` ASCII digits; compared as a number, so a far future is merely stale."""
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= digits):
        raise SignatureError("invalid", f"{header} must be a Unix time")
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


def _same_bytes(given: bytes, expected: bytes, detail: str) -> None:
    if not hmac.compare_digest(given, expected):
        raise SignatureError("invalid", detail)
