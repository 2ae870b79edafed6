"""The ingest HTTP service: a source's webhook -> a CloudEvent -> Kafka, acknowledged.

A ticket is accepted (202) only once the broker acknowledged it; bad input is
refused with a 4xx that names the field and the reason, and an unreachable
broker is a 503 with ``Retry-After`` -- never a 500, never a silent drop.
``/healthz`` says whether the broker answers; ``/readyz`` whether ingest can deliver
now (an event was acknowledged lately, or Kafka has leaders for ingest's topics).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from schemas import topics
from schemas.events import (
    SUPPORT_TICKET,
    CloudEvent,
    ProductionCapacity,
    SalesNote,
    SupportTicket,
    derived_id,
    envelope,
)
from services.asgi_metrics import Record, ResponseMetricsMiddleware
from services.ingest import salesforce_outbound, tracker_hooks
from services.ingest.adapters import capacity_csv, freshdesk, handoff, hubspot, salesforce, zendesk
from services.ingest.adapters.base import AdapterContext, AdapterError, Normalised
from services.ingest.bodies import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    RequestRejectedError,
    parse_json,
    parse_ticket,
    read_body,
    read_json_body,
    require_json,
    require_media,
)
from services.ingest.decoding import decode_json
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import BrokerHealth, EventPublisher, KafkaPublisher, PublishError
from services.ingest.settings import IngestSettings
from services.ingest.signatures import Presented, SignatureError, verify
from services.ingest.sources import SourceConfig, redact_access_log, schemes_of, signed_uri

__all__ = [
    "RequestRejectedError",
    "create_app",
    "parse_json",
    "parse_ticket",
    "read_body",
    "read_json_body",
    "require_json",
    "require_media",
]

log = logging.getLogger(__name__)

SUPPORT = "support"
SUPPORT_SOURCE = "/sources/support"
SUPPORT_PATH = "/v1/sources/support/tickets"
RETRY_AFTER_S = 5

Adapter = Callable[[object, AdapterContext], list[Normalised]]
Handler = Callable[[Request], Coroutine[Any, Any, JSONResponse]]

# source -> (path, adapter, media type, summary); support is special-cased. How each
# source proves itself is per source (services.ingest.sources: schemes, secret); a
# source whose schemes include "path" is also served at <path>/{secret}.
WEBHOOKS: dict[str, tuple[str, Adapter, str, str]] = {
    "sales": ("/v1/sources/sales/notes", handoff.sales_note, JSON_MEDIA_TYPE,
              "A sales note in handoff's own JSON"),
    "capacity": ("/v1/sources/capacity/updates", handoff.capacity,
                 JSON_MEDIA_TYPE, "A production capacity update in handoff's own JSON"),
    "zendesk": ("/v1/sources/zendesk/webhooks", zendesk.adapt, JSON_MEDIA_TYPE,
                "A Zendesk event or trigger webhook (signed with Zendesk's scheme)"),
    "freshdesk": ("/v1/sources/freshdesk/webhooks", freshdesk.adapt,
                  JSON_MEDIA_TYPE, "A Freshdesk ticket webhook"),
    "salesforce": ("/v1/sources/salesforce/webhooks", salesforce.adapt,
                   JSON_MEDIA_TYPE, "Salesforce records (Opportunity, Lead, Task, Note)"),
    "hubspot": ("/v1/sources/hubspot/webhooks", hubspot.adapt, JSON_MEDIA_TYPE,
                "HubSpot CRM objects (deal, note, contact)"),
}  # fmt: skip
CSV_PATH = "/v1/sources/capacity/csv"
CSV_SUMMARY = "A production capacity CSV export (one row per line and date)"
CONTRACTS: dict[str, type[BaseModel]] = {"sales": SalesNote, "capacity": ProductionCapacity}
INGEST_TOPICS = (topics.INGEST_SUPPORT, topics.INGEST_SALES, topics.INGEST_CAPACITY)

Clock = Callable[[], datetime]


class Ingest:
    """What every endpoint shares: the settings, the sink, the metrics and the clock."""

    def __init__(
        self, settings: IngestSettings, sink: EventPublisher, metrics: IngestMetrics, now: Clock
    ) -> None:
        self.settings, self.sink, self.metrics, self.now = settings, sink, metrics, now
        self.limits, self.window = settings.json_limits(), settings.time_window()

    def context(self, source: str = SUPPORT) -> AdapterContext:
        config = self.settings.source(source)
        return AdapterContext(
            received_at=self.now(),
            loss_reasons=self.settings.ingest_loss_reasons,
            window=self.window,
            lead_statuses=self.settings.lead_statuses(),
            labels=config.labels if config is not None else {},
        )

    async def support_ticket(self, request: Request) -> Normalised:
        body = await read_json_body(request, self.settings.ingest_max_body_bytes)
        self.authenticate(SUPPORT, request, body)
        ticket = parse_ticket(body, self.limits)
        try:
            out = handoff.ticket_normalised(ticket, self.context())
        except AdapterError as exc:
            raise RequestRejectedError.unusable(exc) from None
        await self.publish_all([out])
        return out

    async def webhook(
        self, request: Request, source: str, adapter: Adapter, media: str
    ) -> list[Normalised]:
        raw = await read_body(request, self.settings.ingest_max_body_bytes, media)
        self.authenticate(source, request, raw)
        try:
            payload = (
                capacity_csv.upload(raw, request.headers)  # the adapter judges its charset
                if media == CSV_MEDIA_TYPE
                else decode_json(raw, self.limits)
            )
            outs = adapter(payload, self.context(source))
        except AdapterError as exc:
            raise RequestRejectedError.unusable(exc) from None
        await self.publish_all(outs)
        return outs

    def authenticate(self, source: str, request: Request, body: bytes) -> None:
        """Raise a 401 unless the request proves the source's secret (or may be unsigned)."""
        try:
            self._verify(source, request, body)
        except SignatureError as exc:
            self.metrics.signature_failures.labels(source=source, reason=exc.reason).inc()
            log.warning("refused a %s request: %s (%s)", source, exc.reason, exc.detail)
            raise RequestRejectedError(
                401, "unauthorized", f"signature refused: {exc.detail}"
            ) from None

    def _verify(self, source: str, request: Request, body: bytes) -> None:
        secret = self.settings.secret(source)
        if secret is None:
            if source in self.settings.ingest_unsigned_sources:
                return
            env = f"HANDOFF_INGEST_SECRET_{source.upper()}"
            raise SignatureError("unconfigured", f"no secret configured for {source}; set {env}")
        config = self.settings.source(source)
        presented = _presented(request, body, config)
        max_skew = self.settings.ingest_signature_max_skew_s
        verify(schemes_of(source, config), secret, presented, now=self.now(), max_skew_s=max_skew)

    async def publish_all(self, outs: list[Normalised]) -> None:
        for out in outs:
            await publish(
                out.topic, out.key.encode(), out.event.to_bytes(), self.sink, self.metrics
            )

    def refused(self, source: str, rejected: RequestRejectedError) -> JSONResponse:
        self.metrics.count(source, rejected.outcome)
        return rejected.response()

    def accepted(self, source: str, body: dict[str, Any]) -> JSONResponse:
        self.metrics.count(source, "accepted")
        return JSONResponse(body, status_code=202)


def create_app(
    settings: IngestSettings,
    *,
    publisher: EventPublisher | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The ingest app; without a publisher it builds (and at shutdown closes) a Kafka one."""
    sink = publisher or _kafka_publisher(settings)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = IngestMetrics(registry)
    ingest = Ingest(settings, sink, metrics, clock or _utc_now)
    app = FastAPI(title="handoff ingest", lifespan=_closing(sink, owned=publisher is None))
    app.add_middleware(ResponseMetricsMiddleware, record=_responded(metrics))
    redact_access_log()
    _add_support_route(app, ingest)
    _add_webhook_routes(app, ingest)
    salesforce_outbound.add_route(app, ingest)
    tracker_hooks.add_routes(app, ingest)
    _add_status_routes(app, ingest, registry)
    return app


def _responded(metrics: IngestMetrics) -> Record:
    """Every response by route template, method and status (the 5xx/503 alert reads it)."""
    return lambda route, method, status, _took: metrics.responded(route, method, status)


def _kafka_publisher(settings: IngestSettings) -> KafkaPublisher:
    return KafkaPublisher(
        settings.kafka_bootstrap,
        ack_timeout_s=settings.ingest_ack_timeout_s,
        probe_topics=INGEST_TOPICS,
    )


def _closing(
    sink: EventPublisher, *, owned: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await run_in_threadpool(sink.close)

    return lifespan


def _add_support_route(app: FastAPI, ingest: Ingest) -> None:
    async def receive_support_ticket(request: Request) -> JSONResponse:
        try:
            out = await ingest.support_ticket(request)
        except RequestRejectedError as rejected:
            return ingest.refused(SUPPORT, rejected)
        return ingest.accepted(
            SUPPORT, {"id": out.event.id, "account": out.key, "topic": out.topic}
        )

    summary = "Hand a support ticket to handoff (202 once Kafka acknowledged it)"
    doc = _json_body_doc(app, SupportTicket)
    app.post(SUPPORT_PATH, status_code=202, summary=summary, openapi_extra=doc)(
        receive_support_ticket
    )


def _add_webhook_routes(app: FastAPI, ingest: Ingest) -> None:
    for source, (path, adapter, media, summary) in WEBHOOKS.items():
        model = CONTRACTS.get(source)
        doc = _json_body_doc(app, model) if model else _any_body_doc(media)
        handler = _webhook(ingest, source, adapter, media)
        app.post(path, status_code=202, summary=summary, openapi_extra=doc)(handler)
        if "path" in schemes_of(source, ingest.settings.source(source)):
            secret_summary = f"{summary}, its secret in the path"
            app.post(path + "/{secret}", status_code=202, summary=secret_summary)(handler)
    csv_doc = _any_body_doc(CSV_MEDIA_TYPE)
    handler = _webhook(ingest, "capacity", capacity_csv.adapt, CSV_MEDIA_TYPE)
    app.post(CSV_PATH, status_code=202, summary=CSV_SUMMARY, openapi_extra=csv_doc)(handler)


def _webhook(ingest: Ingest, source: str, adapter: Adapter, media: str) -> Handler:
    async def receive(request: Request) -> JSONResponse:
        try:
            outs = await ingest.webhook(request, source, adapter, media)
        except RequestRejectedError as rejected:
            return ingest.refused(source, rejected)
        return ingest.accepted(source, {"events": [_summary(o) for o in outs]})

    return receive


def _add_status_routes(app: FastAPI, ingest: Ingest, registry: CollectorRegistry) -> None:
    async def healthz() -> JSONResponse:
        health = await run_in_threadpool(ingest.sink.check)
        return _status(health, "ok", "unavailable", "reachable")

    async def readyz() -> JSONResponse:
        """Ready: an event was acknowledged lately, or Kafka has leaders for ingest's topics."""
        max_age = ingest.settings.ingest_ready_delivered_s
        health = await run_in_threadpool(ingest.sink.ready, max_age)
        return _status(health, "ready", "not_ready", "ready")

    async def metrics_page() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.get("/healthz")(healthz)
    app.get("/readyz")(readyz)
    app.get("/metrics")(metrics_page)


def _presented(request: Request, body: bytes, config: SourceConfig | None) -> Presented:
    """What the request shows to prove its sender (the URI as the tool called it)."""
    url = request.url
    path_and_query = url.path + (f"?{url.query}" if url.query else "")
    return Presented(
        method=request.method,
        uri=signed_uri(str(url), path_and_query, config),
        headers=request.headers,
        body=body,
        path_secret=request.path_params.get("secret"),
    )


def _status(health: BrokerHealth, good: str, bad: str, flag: str) -> JSONResponse:
    body = {
        "status": good if health.reachable else bad,
        "kafka": {flag: health.reachable, "detail": health.detail},
    }
    return JSONResponse(body, status_code=200 if health.reachable else 503)


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


def _utc_now() -> datetime:
    return datetime.now(UTC)
