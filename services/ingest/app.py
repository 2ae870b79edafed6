"""The ingest HTTP service: a source's webhook -> a CloudEvent -> Kafka, acknowledged.

A ticket is accepted (202) only once the broker acknowledged it; bad input is
refused with a 4xx that names the field and the reason, and an unreachable
broker is a 503 with ``Retry-After`` -- never a 500, never a silent drop.
"""

from __future__ import annotations

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

from schemas import topics
from schemas.events import SUPPORT_TICKET, CloudEvent, SupportTicket, derived_id, envelope
from services.core.errors import HandoffError
from services.core.identity import account_from_email
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import EventPublisher, KafkaPublisher, PublishError
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

SUPPORT = "support"
SUPPORT_SOURCE = "/sources/support"
RETRY_AFTER_S = 5
JSON_MEDIA_TYPE = "application/json"

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

    @app.post(
        "/v1/sources/support/tickets",
        status_code=202,
        summary="Hand a support ticket to handoff (202 once Kafka acknowledged it)",
        openapi_extra=_json_body_doc(app, SupportTicket),
    )
    async def receive_support_ticket(request: Request) -> JSONResponse:
        try:
            body = await read_json_body(request, settings.ingest_max_body_bytes)
            ticket = parse_ticket(body)
            event = ticket_event(ticket, received_at=now())
            account = account_from_email(ticket.requester_email)
            await publish(topics.INGEST_SUPPORT, account.encode(), event.to_bytes(), sink, metrics)
        except RequestRejectedError as rejected:
            metrics.count(SUPPORT, rejected.outcome)
            return rejected.response()
        metrics.count(SUPPORT, "accepted")
        body_out = {"id": event.id, "account": account, "topic": topics.INGEST_SUPPORT}
        return JSONResponse(body_out, status_code=202)

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
    require_json(request.headers)
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
    raw = headers.get("content-type", "")
    media_type, _, rest = raw.partition(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        got = f"got {raw!r}" if raw else "none given"
        raise _unsupported(f"Content-Type must be {JSON_MEDIA_TYPE} ({got})")
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
