"""What the tracker webhooks (Jira, GitHub, Backlog) share: finding the task an issue belongs
to, the comment tags meant for the requester, the HMAC check, the event they become.

Pure: bytes and parsed JSON in, ``Normalised`` events on ``handoff.tracker`` out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from schemas import topics
from schemas.events import derived_id, envelope
from schemas.trackers import TRACKER_CHANGED, TrackerAction, TrackerChange
from services.ingest.adapters.base import AdapterError, Normalised
from services.ingest.signatures import SignatureError

MARKER: Final = re.compile(r"handoff-task:\s*([A-Za-z0-9][A-Za-z0-9._:-]{0,127})")
LABEL: Final = re.compile(r"^handoff-task-([A-Za-z0-9][A-Za-z0-9._:-]{0,127})$")
# A comment for the person who asked starts with one of these tags (the tag is dropped).
REQUESTER_TAGS: Final = ("#requester", "#customer", "#依頼者", "#お客様")
SOURCE: Final = "/trackers"


def task_of(texts: list[str], labels: list[str]) -> str | None:
    """The task id from a ``handoff-task-<id>`` label or the ``handoff-task: <id>`` marker."""
    for label in labels:
        if found := LABEL.match(label):
            return found[1]
    for text in texts:
        if found := MARKER.search(text):
            return found[1]
    return None


def for_requester(comment: str) -> str | None:
    """The comment without its tag when it is tagged for the requester, else None."""
    text = comment.strip()
    for tag in REQUESTER_TAGS:
        if text.startswith(tag):
            return text[len(tag) :].strip() or None
    return None


def comment_action(comment: str) -> tuple[TrackerAction, str]:
    """A tagged comment is public (``comment``); any other is kept as a ``note``."""
    public = for_requester(comment)
    return ("comment", public) if public is not None else ("note", comment.strip())


def verify_hmac(secret: bytes, header: str | None, body: bytes, name: str) -> None:
    """``sha256=<hex>`` of HMAC-SHA256(secret, raw body) (GitHub, Jira admin webhooks)."""
    if not header:
        raise SignatureError("missing", f"no {name} header")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise SignatureError("invalid", f"{name} does not match the body")


def verify_path_secret(secret: bytes, presented: str | None) -> None:
    """Backlog signs nothing: the secret is the last segment of the URL it calls."""
    if not presented:
        raise SignatureError("missing", "no secret in the webhook URL")
    if not hmac.compare_digest(secret, presented.encode()):
        raise SignatureError("invalid", "the secret in the webhook URL is wrong")


def refuse_stale(at: datetime, now: datetime, max_skew_s: float) -> None:
    """A webhook about a change long past (or far ahead) is a replay: refused."""
    if abs((now - at).total_seconds()) > max_skew_s:
        raise SignatureError("stale", f"the event is from {at.isoformat()}, outside the window")


def change_event(change: TrackerChange, delivery: str) -> Normalised:
    """The change on ``handoff.tracker``; its id from the tracker's own ids (a redelivery
    of the same webhook is the same event)."""
    event_id = derived_id(TRACKER_CHANGED, change.tracker, delivery)
    event = envelope(
        type_=TRACKER_CHANGED, source=f"{SOURCE}/{change.tracker}", data=change,
        time=change.at, event_id=event_id, subject=change.task_id,
    )  # fmt: skip
    return Normalised(topics.TRACKER, change.task_id, event)


def text(value: object, loc: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise AdapterError.at(loc, "a string is required")
    return value


def mapping(value: object, loc: tuple[str | int, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AdapterError.at(loc, "an object is required")
    return value


def from_millis(value: object, loc: tuple[str | int, ...]) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise AdapterError.at(loc, "epoch milliseconds are required")
    return datetime.fromtimestamp(value / 1000, UTC)


def from_iso(value: object, loc: tuple[str | int, ...]) -> datetime:
    try:
        parsed = datetime.fromisoformat(text(value, loc).replace("Z", "+00:00"))
    except ValueError:
        raise AdapterError.at(loc, "an ISO 8601 time is required") from None
    if parsed.tzinfo is None:
        raise AdapterError.at(loc, "a time zone is required")
    return parsed
