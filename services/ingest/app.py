"""The ingest HTTP service: a source's webhook -> a CloudEvent -> Kafka, acknowledged.

A ticket is accepted (202) only once the broker acknowledged it; bad input is
refused with a 4xx that names the field and the reason, and an unreachable
broker is a 503 with ``Retry-After`` -- never a 500, never a silent drop.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from schemas.events import (
    SUPPORT_TICKET,
    CloudEvent,
    ProductionCapacity,
    SalesNote,
    SupportTicket,
    derived_id,
    envelope,
)
from services.core.errors import HandoffError
from services.ingest.adapters import capacity_csv, freshdesk, handoff, hubspot, salesforce, zendesk
from services.ingest.adapters.base import AdapterContext, AdapterError, Normalised
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import EventPublisher, KafkaPublisher, PublishError
from services.ingest.settings import IngestSettings
from services.ingest.signatures import SignatureError, verify_handoff, verify_zendesk

log = logging.getLogger(__name__)

SUPPORT = "support"
SUPPORT_SOURCE = "/sources/support"
RETRY_AFTER_S = 5
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"

Adapter = Callable[[object, AdapterContext], list[Normalised]]
Verifier = Callable[..., None]

# source -> (path, adapter, signature scheme, media type, summary); support is special-cased
WEBHOOKS: dict[str, tuple[str, Adapter, Verifier, str, str]] = {
    "sales": ("/v1/sources/sales/notes", handoff.sales_note, verify_handoff, JSON_MEDIA_TYPE,
              "A sales note in handoff's own JSON"),
    "capacity": ("/v1/sources/capacity/updates", handoff.capacity, verify_handoff,
                 JSON_MEDIA_TYPE, "A production capacity update in handoff's own JSON"),
    "zendesk": ("/v1/sources/zendesk/webhooks", zendesk.adapt, verify_zendesk, JSON_MEDIA_TYPE,
                "A Zendesk ticket webhook (signed with Zendesk's scheme)"),
    "freshdesk": ("/v1/sources/freshdesk/webhooks", freshdesk.adapt, verify_handoff,
                  JSON_MEDIA_TYPE, "A Freshdesk ticket webhook"),
    "salesforce": ("/v1/sources/salesforce/webhooks", salesforce.adapt, verify_handoff,
                   JSON_MEDIA_TYPE, "Salesforce records (Opportunity, Lead, Task, Note)"),
    "hubspot": ("/v1/sources/hubspot/webhooks", hubspot.adapt, verify_handoff, JSON_MEDIA_TYPE,
                "HubSpot CRM objects (deal, note, contact)"),
}  # fmt: skip
CSV_PATH = "/v1/sources/capacity/csv"

Clock = Callable[[], datetime]


class RequestRejectedError(HandoffError):
    """A request ingest refuses: its HTTP status, metric outcome and detail."""

    def __init__(
        self,
        status: int,
        outcome: str,
        detail: str | list[dict[str, Any]],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.outcome = outcome
        self.detail = detail
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=self.headers)


def create_app(
    settings: IngestSettings,
    *,
    publisher: EventPublisher | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The ingest app; without a publisher it builds (and at shutdown closes) a Kafka one."""
    owned = publisher is None
    sink: EventPublisher = publisher or KafkaPublisher(
        settings.kafka_bootstrap, ack_timeout_s=settings.ingest_ack_timeout_s
    )
    registry = registry if registry is not None else CollectorRegistry()
    metrics = IngestMetrics(registry)
    now = clock or _utc_now

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await run_in_threadpool(sink.close)

    app = FastAPI(title="handoff ingest", lifespan=lifespan)

    def context() -> AdapterContext:
        return AdapterContext(received_at=now(), loss_reasons=settings.ingest_loss_reasons)

    def authenticate(source: str, verify: Verifier, request: Request, body: bytes) -> None:
        """Raise a 401 unless the body is signed with the source's secret (or may be unsigned)."""
        secret = settings.secret(source)
        try:
            if secret is None:
                if source in settings.ingest_unsigned_sources:
                    return
                env = f"HANDOFF_INGEST_SECRET_{source.upper()}"
                raise SignatureError(
                    "unconfigured", f"no secret configured for {source}; set {env}"
                )
            verify(
                secret,
                request.headers,
                body,
                now=now(),
                max_skew_s=settings.ingest_signature_max_skew_s,
            )
        except SignatureError as exc:
            metrics.signature_failures.labels(source=source, reason=exc.reason).inc()
            log.warning("refused a %s request: %s (%s)", source, exc.reason, exc.detail)
            raise RequestRejectedError(
                401, "unauthorized", f"signature refused: {exc.detail}"
            ) from None

    @app.post(
        "/v1/sources/support/tickets",
        status_code=202,
        summary="Hand a support ticket to handoff (202 once Kafka acknowledged it)",
        openapi_extra=_json_body_doc(app, SupportTicket),
    )
    async def receive_support_ticket(request: Request) -> JSONResponse:
        try:
            body = await read_json_body(request, settings.ingest_max_body_bytes)
            authenticate(SUPPORT, verify_handoff, request, body)
            ticket = parse_ticket(body)
            out = handoff.ticket_normalised(ticket, context())
            await publish(out.topic, out.key.encode(), out.event.to_bytes(), sink, metrics)
        except RequestRejectedError as rejected:
            metrics.count(SUPPORT, rejected.outcome)
            return rejected.response()
        metrics.count(SUPPORT, "accepted")
        body_out = {"id": out.event.id, "account": out.key, "topic": out.topic}
        return JSONResponse(body_out, status_code=202)

    def webhook(source: str, adapter: Adapter, verify: Verifier, media: str) -> Any:
        async def receive(request: Request) -> JSONResponse:
            try:
                raw = await read_body(request, settings.ingest_max_body_bytes, media)
                authenticate(source, verify, request, raw)
                payload = raw if media == CSV_MEDIA_TYPE else parse_json(raw)
                try:
                    outs = adapter(payload, context())
                except AdapterError as exc:
                    raise RequestRejectedError(422, "rejected", exc.errors) from None
                for out in outs:
                    await publish(out.topic, out.key.encode(), out.event.to_bytes(), sink, metrics)
            except RequestRejectedError as rejected:
                metrics.count(source, rejected.outcome)
                return rejected.response()
            metrics.count(source, "accepted")
            return JSONResponse({"events": [_summary(o) for o in outs]}, status_code=202)

        return receive

    for source, (path, adapter, verify, media, summary) in WEBHOOKS.items():
        models: dict[str, type[BaseModel]] = {"sales": SalesNote, "capacity": ProductionCapacity}
        model = models.get(source)
        doc = _json_body_doc(app, model) if model else _any_body_doc(media)
        app.post(path, status_code=202, summary=summary, openapi_extra=doc)(
            webhook(source, adapter, verify, media)
        )
    app.post(
        CSV_PATH,
        status_code=202,
        summary="A production capacity CSV export (one row per line and date)",
        openapi_extra=_any_body_doc(CSV_MEDIA_TYPE),
    )(webhook("capacity", capacity_csv.adapt, verify_handoff, CSV_MEDIA_TYPE))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        health = await run_in_threadpool(sink.check)
        body = {
            "status": "ok" if health.reachable else "unavailable",
            "kafka": {"reachable": health.reachable, "detail": health.detail},
        }
        return JSONResponse(body, status_code=200 if health.reachable else 503)

    @app.get("/metrics")
    async def metrics_page() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body of a JSON request, refusing other media types and more than ``limit`` bytes."""
    return await read_body(request, limit, JSON_MEDIA_TYPE)


async def read_body(request: Request, limit: int, media_type: str) -> bytes:
    """The body of a request of ``media_type``, refusing others and more than ``limit`` bytes."""
    require_media(request.headers, media_type)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            detail = f"Content-Length {declared!r} is not a number"
            raise RequestRejectedError(400, "rejected", detail)
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestRejectedError(400, "rejected", "the client went away mid-body") from None
    return b"".join(chunks)


def require_json(headers: Mapping[str, str]) -> None:
    require_media(headers, JSON_MEDIA_TYPE)


def require_media(headers: Mapping[str, str], expected: str) -> None:
    raw = headers.get("content-type", "")
    media_type, _, rest = raw.partition(";")
    if media_type.strip().lower() != expected:
        got = f"got {raw!r}" if raw else "none given"
        raise _unsupported(f"Content-Type must be {expected} ({got})")
    params = dict(_param(p) for p in rest.split(";") if p.strip())
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise _unsupported(f"the body must be UTF-8 (got charset={params['charset']})")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _unsupported(f"Content-Encoding {encoding!r} is not supported; send plain JSON")


def parse_ticket(body: bytes) -> SupportTicket:
    """Validate the body as a SupportTicket; every problem named by field and reason."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = [
            {
                "loc": ["body"],
                "msg": f"body is not valid UTF-8 (invalid byte at offset {exc.start})",
                "type": "utf8_invalid",
            }
        ]
        raise RequestRejectedError(422, "rejected", detail) from None
    try:
        return SupportTicket.model_validate_json(body)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]
        raise RequestRejectedError(422, "rejected", errors) from None


def parse_json(body: bytes) -> object:
    """The body as JSON (any shape: the adapter judges it), or a 422 saying why not."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"body is not valid UTF-8 (invalid byte at offset {exc.start})"
        raise RequestRejectedError(422, "rejected", _body_error(msg, "utf8_invalid")) from None
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise RequestRejectedError(422, "rejected", _body_error(msg, "json_invalid")) from None
    except RecursionError:
        msg = "invalid JSON: nested too deeply"
        raise RequestRejectedError(422, "rejected", _body_error(msg, "json_invalid")) from None


def _body_error(msg: str, type_: str) -> list[dict[str, Any]]:
    return [{"loc": ["body"], "msg": msg, "type": type_}]


def _summary(out: Normalised) -> dict[str, str]:
    return {"id": out.event.id, "type": out.event.type, "topic": out.topic, "account": out.key}


def _any_body_doc(media_type: str) -> dict[str, Any]:
    schema = {"type": "string"} if media_type == CSV_MEDIA_TYPE else {"type": "object"}
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def ticket_event(ticket: SupportTicket, *, received_at: datetime) -> CloudEvent:
    """The ``support.ticket`` CloudEvent; its id is derived from the helpdesk's id when given."""
    if ticket.ticket_id:
        event_id = derived_id(SUPPORT_TICKET, SUPPORT_SOURCE, ticket.ticket_id)
    else:
        event_id = str(uuid.uuid4())
    return envelope(
        type_=SUPPORT_TICKET,
        source=SUPPORT_SOURCE,
        data=ticket,
        time=ticket.created_at or received_at,
        event_id=event_id,
        subject=ticket.ticket_id,
    )


async def publish(
    topic: str, key: bytes, value: bytes, sink: EventPublisher, metrics: IngestMetrics
) -> None:
    """Hand the event to the broker (in a worker thread) and wait for its acknowledgement."""
    started = time.perf_counter()
    try:
        await run_in_threadpool(sink.publish, topic, key, value)
    except PublishError as exc:
        log.warning("event not acknowledged by Kafka, answering 503: %s", exc)
        detail = (
            f"Kafka did not acknowledge the event, so it was not accepted; "
            f"retry in {RETRY_AFTER_S}s ({exc.reason})"
        )
        raise RequestRejectedError(
            503, "unavailable", detail, {"Retry-After": str(RETRY_AFTER_S)}
        ) from exc
    finally:
        metrics.publish_seconds.observe(time.perf_counter() - started)


def _json_body_doc(app: FastAPI, model: type[BaseModel]) -> dict[str, Any]:
    """The request body's schema for /docs (the handler reads the body itself)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_openapi()
        document.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    content = {JSON_MEDIA_TYPE: {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def _param(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name.strip().lower(), value.strip().strip('"').lower()


def _too_large(limit: int) -> RequestRejectedError:
    return RequestRejectedError(413, "too_large", f"the body is larger than {limit} bytes")


def _unsupported(detail: str) -> RequestRejectedError:
    return RequestRejectedError(415, "unsupported_media", detail)


def _utc_now() -> datetime:
    return datetime.now(UTC)
