"""Tracker webhooks (Jira, GitHub, Backlog) -> ``handoff.tracker``: the way back (issue 14).

Each is verified with its vendor's own scheme before anything is read (Jira's
and GitHub's HMAC of the raw body; Backlog's secret in the URL path), then
refused as *stale* when the change it reports is outside the signature window
(a replay), then turned into at most one ``tracker.issue_changed`` event keyed
by the task id. 202 only once Kafka acknowledged it; a forged or stale call is
a 401 and publishes nothing. Secrets: ``HANDOFF_INGEST_TRACKER_SECRET_<VENDOR>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.ingest.adapters import backlog, github, jira
from services.ingest.adapters.base import AdapterError, Normalised
from services.ingest.adapters.tracker_common import refuse_stale, verify_path_secret
from services.ingest.bodies import JSON_MEDIA_TYPE, RequestRejectedError, read_body
from services.ingest.decoding import decode_json
from services.ingest.signatures import SignatureError

if TYPE_CHECKING:
    from services.ingest.app import Ingest

log = logging.getLogger(__name__)
PREFIX: Final = "/v1/trackers"


@dataclass(frozen=True)
class TrackerHook:
    """One vendor's webhook: how it proves itself, when it happened, what it means."""

    vendor: str
    verify: Callable[[bytes, Mapping[str, str], bytes], None] | None  # None: a path secret
    event_time: Callable[[object], datetime]
    adapt: Callable[[object, Mapping[str, str]], list[Normalised]]
    summary: str

    @property
    def path(self) -> str:
        tail = "/{secret}" if self.verify is None else ""
        return f"{PREFIX}/{self.vendor}/webhooks{tail}"


HOOKS: Final = (
    TrackerHook("jira", jira.verify, jira.event_time, jira.adapt,
                "A Jira admin webhook (X-Hub-Signature) about a handoff issue"),
    TrackerHook("github", github.verify, github.event_time, github.adapt,
                "A GitHub issues / issue_comment webhook (X-Hub-Signature-256)"),
    TrackerHook("backlog", None, backlog.event_time, backlog.adapt,
                "A Backlog webhook; the secret is the URL's last segment"),
)  # fmt: skip


def add_routes(app: FastAPI, ingest: Ingest) -> None:
    for hook in HOOKS:
        doc = {
            "requestBody": {
                "required": True,
                "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
            }
        }
        app.post(hook.path, status_code=202, summary=hook.summary, openapi_extra=doc)(
            _handler(ingest, hook)
        )


def _handler(ingest: Ingest, hook: TrackerHook) -> Callable[[Request], object]:
    async def receive(request: Request) -> JSONResponse:
        try:
            outs = await receive_change(ingest, hook, request)
        except RequestRejectedError as rejected:
            return rejected.response()
        events = [{"id": o.event.id, "task_id": o.key, "topic": o.topic} for o in outs]
        return JSONResponse({"events": events}, status_code=202)

    return receive


async def receive_change(ingest: Ingest, hook: TrackerHook, request: Request) -> list[Normalised]:
    raw = await read_body(request, ingest.settings.ingest_max_body_bytes, JSON_MEDIA_TYPE)
    _authenticate(ingest, hook, request, raw)
    try:
        payload = decode_json(raw, ingest.limits)
        _refuse_stale(ingest, hook, payload)
        outs = hook.adapt(payload, request.headers)
    except AdapterError as exc:
        raise RequestRejectedError.unusable(exc) from None
    await ingest.publish_all(outs)
    return outs


def _authenticate(ingest: Ingest, hook: TrackerHook, request: Request, raw: bytes) -> None:
    try:
        _verify(ingest, hook, request, raw)
    except SignatureError as exc:
        _refused(ingest, hook, exc)


def _verify(ingest: Ingest, hook: TrackerHook, request: Request, raw: bytes) -> None:
    secret = ingest.settings.tracker_secret(hook.vendor)
    if secret is None:
        env = f"HANDOFF_INGEST_TRACKER_SECRET_{hook.vendor.upper()}"
        raise SignatureError("unconfigured", f"no secret configured for {hook.vendor}; set {env}")
    if hook.verify is None:
        verify_path_secret(secret, request.path_params.get("secret"))
    else:
        hook.verify(secret, request.headers, raw)


def _refuse_stale(ingest: Ingest, hook: TrackerHook, payload: object) -> None:
    max_skew = ingest.settings.ingest_signature_max_skew_s
    try:
        refuse_stale(hook.event_time(payload), ingest.now(), max_skew)
    except SignatureError as exc:
        _refused(ingest, hook, exc)


def _refused(ingest: Ingest, hook: TrackerHook, exc: SignatureError) -> None:
    ingest.metrics.signature_failures.labels(source=hook.vendor, reason=exc.reason).inc()
    log.warning("refused a %s tracker webhook: %s (%s)", hook.vendor, exc.reason, exc.detail)
    raise RequestRejectedError(401, "unauthorized", f"signature refused: {exc.detail}") from None
