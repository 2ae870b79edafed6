"""The HTTP API: team queues, one task, resolving it, per-team counts, latency stats.

Built by :func:`create_app` from settings and injected parts (engine,
feedback publisher, metrics registry, clock), so tests swap any of them.
Errors are translated here: bad input is a 422 naming the field, a missing
task a 404, a task in the wrong state a 409, an unavailable broker or
database a 503 with ``Retry-After`` — never a 500 for what a client sent.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations, and some (the page size limit) refer to create_app's locals.
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from schemas import topics
from services.api.clock import Clock, utc_now
from services.api.db import TASK_ID_PATTERN, Task, make_engine
from services.api.errors import FeedbackUnavailableError, TaskNotFoundError, TaskNotOpenError
from services.api.feedback import FeedbackPublisher, KafkaFeedbackPublisher, resolve_task
from services.api.metrics import ApiMetrics
from services.api.projector import KafkaDeadLetters, Projector, ProjectorConfig
from services.api.repository import SqlTaskRepository, StateFilter
from services.api.settings import ApiSettings
from services.core.stats import LatencySummary, summarize

log = logging.getLogger(__name__)

RETRY_AFTER_S: Final = 5
MESSAGE_MAX: Final = 20_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- input types ----------------------------------------------------------------------------


def _team_name(value: str) -> str:
    if not topics.is_valid_team(value):
        raise ValueError(
            "a team name is 1-63 lowercase letters, digits and '-', starting with a letter or digit"
        )
    return value


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


TeamName = Annotated[str, AfterValidator(_team_name)]
UtcInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TaskOut(_Out):
    task_id: str
    source_event_id: str
    source: str
    team: str
    rule: str = Field(description="Why this team: the routing rule that matched")
    account: str
    priority: str
    component: str | None
    subject: str
    description: str
    requester_email: str
    state: Literal["open", "resolved"]
    raised_at: datetime = Field(description="When the origin raised the request (UTC)")
    routed_at: datetime
    sla_due: datetime
    projected_at: datetime = Field(description="When the API stored the routed task")
    resolved_at: datetime | None
    resolution: str | None = Field(description="The answer sent back to the origin")
    feedback_latency_s: float | None = Field(description="From raised_at to the answer, in seconds")
    version: int


class TaskPage(BaseModel):
    team: str
    count: int = Field(description="How many tasks match in total (all pages)")
    tasks: list[TaskOut]


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX),
        AfterValidator(_storable_text),
    ] = Field(description="The answer for whoever raised the request")


class TeamSummary(BaseModel):
    team: str
    open: int
    resolved: int


class TeamsOut(BaseModel):
    teams: list[TeamSummary]


class LatencyOut(BaseModel):
    count: int
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    max_s: float | None

    @classmethod
    def of(cls, summary: LatencySummary) -> "LatencyOut":
        return cls(
            count=summary.count,
            p50_s=summary.p50,
            p90_s=summary.p90,
            p99_s=summary.p99,
            max_s=summary.max,
        )


class LatencyStats(BaseModel):
    overall: LatencyOut
    teams: dict[str, LatencyOut]


class HealthOut(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, str] = Field(description="Each part: 'ok', 'disabled', or what failed")


class ErrorOut(BaseModel):
    detail: str


class ConflictOut(ErrorOut):
    state: str = Field(description="The task's current state")


class FieldError(BaseModel):
    field: str = Field(description="Where: path.*, query.* or body.*")
    reason: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldError]


_422: Final[dict[int | str, dict[str, Any]]] = {422: {"model": ValidationErrorOut}}


# --- middleware -----------------------------------------------------------------------------


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before anything parses them.

    A declared ``Content-Length`` over the limit is refused at once; otherwise
    the body is read (up to the limit) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(send, 400, {"detail": "invalid Content-Length header"})
                return
            if int(declared) > self.max_bytes:
                await _send_json(send, 413, self._too_large())
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> dict[str, str]:
        return {"detail": f"request body larger than {self.max_bytes} bytes"}


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    response = JSONResponse(body, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Count requests by route template (never the raw path), method and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        began = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(
                route=route, method=method if method in _METHODS else "OTHER", status=str(status)
            ).inc()
            self.metrics.request_duration.labels(route=route).observe(time.perf_counter() - began)


# --- the app --------------------------------------------------------------------------------


def create_app(
    settings: ApiSettings,
    *,
    engine: sa.Engine | None = None,
    publisher: FeedbackPublisher | None = None,
    registry: CollectorRegistry | None = None,
    start_projector: bool | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The API. Parts not given are built from ``settings`` (and closed at shutdown)."""
    owns_engine = engine is None
    owns_publisher = publisher is None
    db = engine if engine is not None else make_engine(settings.database_url)
    feedback: FeedbackPublisher = (
        publisher
        if publisher is not None
        else KafkaFeedbackPublisher(
            settings.kafka_bootstrap, ack_timeout_s=settings.api_feedback_ack_timeout_s
        )
    )
    metrics_registry = registry if registry is not None else CollectorRegistry()
    metrics = ApiMetrics(metrics_registry)
    repository = SqlTaskRepository(db)
    projector_enabled = settings.api_projector if start_projector is None else start_projector
    page_max = settings.api_page_size_max

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        projector: Projector | None = None
        if projector_enabled:
            projector = Projector(
                db,
                ProjectorConfig(
                    bootstrap=settings.kafka_bootstrap,
                    group_id=settings.api_consumer_group,
                    session_timeout_ms=settings.api_consumer_session_timeout_ms,
                    heartbeat_interval_ms=max(300, settings.api_consumer_session_timeout_ms // 3),
                ),
                metrics=metrics,
                dead_letters=KafkaDeadLetters(
                    settings.kafka_bootstrap, ack_timeout_s=settings.api_feedback_ack_timeout_s
                ),
                clock=clock,
            )
            projector.start()
        app.state.projector = projector
        try:
            yield
        finally:
            if projector is not None:
                await run_in_threadpool(projector.stop)
            if owns_publisher:
                await run_in_threadpool(feedback.close)
            if owns_engine:
                db.dispose()

    app = FastAPI(
        title="handoff API",
        version="1",
        summary="Team queues of routed tasks, their answers, and how long askers wait.",
        lifespan=lifespan,
    )
    app.state.projector = None
    app.state.metrics = metrics
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    _add_error_handlers(app)

    @app.get(
        "/v1/teams/{team}/tasks",
        response_model=TaskPage,
        responses=_422,
        summary="A team's tasks, oldest raised first",
    )
    def team_tasks(
        team: Annotated[TeamName, Path(description="Team name, e.g. billing-ui")],
        state: Annotated[StateFilter, Query(description="Which tasks")] = "open",
        limit: Annotated[int, Query(ge=1, le=page_max, description="Page size")] = min(
            100, page_max
        ),
        offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Tasks to skip")] = 0,
    ) -> TaskPage:
        count, tasks = repository.team_tasks(team, state=state, limit=limit, offset=offset)
        return TaskPage(team=team, count=count, tasks=[TaskOut.model_validate(t) for t in tasks])

    @app.get(
        "/v1/tasks/{task_id}",
        response_model=TaskOut,
        responses={404: {"model": ErrorOut}, **_422},
        summary="One task",
    )
    def get_task(task_id: Annotated[str, Path(pattern=TASK_ID_PATTERN)]) -> TaskOut:
        return TaskOut.model_validate(repository.get(task_id))

    @app.post(
        "/v1/tasks/{task_id}/resolve",
        response_model=TaskOut,
        responses={
            404: {"model": ErrorOut},
            409: {"model": ConflictOut, "description": "The task is not open"},
            413: {"model": ErrorOut, "description": "Body over the size limit"},
            503: {"model": ErrorOut, "description": "The broker did not acknowledge; retry"},
            **_422,
        },
        summary="Answer a task; the answer is sent back to whoever asked",
    )
    def resolve(
        task_id: Annotated[str, Path(pattern=TASK_ID_PATTERN)], body: ResolveRequest
    ) -> TaskOut:
        task: Task = resolve_task(
            db, task_id, body.message, publisher=feedback, clock=clock, metrics=metrics
        )
        return TaskOut.model_validate(task)

    @app.get("/v1/teams", response_model=TeamsOut, summary="Open and resolved counts per team")
    def teams() -> TeamsOut:
        return TeamsOut(
            teams=[
                TeamSummary(team=c.team, open=c.open, resolved=c.resolved)
                for c in repository.team_counts()
            ]
        )

    @app.get(
        "/v1/stats/feedback-latency",
        response_model=LatencyStats,
        responses=_422,
        summary="Feedback latency (raised -> answered) of resolved tasks, overall and per team",
    )
    def feedback_latency(
        team: Annotated[TeamName | None, Query(description="Only this team")] = None,
        since: Annotated[
            UtcInstant | None,
            Query(description="Only tasks answered at or after this (ISO 8601, with offset)"),
        ] = None,
    ) -> LatencyStats:
        by_team = repository.feedback_latencies(team=team, since=since)
        every = [value for values in by_team.values() for value in values]
        return LatencyStats(
            overall=LatencyOut.of(summarize(every)),
            teams={name: LatencyOut.of(summarize(values)) for name, values in by_team.items()},
        )

    @app.get(
        "/healthz",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "A part failed"}},
        summary="Database reachable, projector running (when enabled)",
    )
    def healthz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            repository.ping()
            checks["database"] = "ok"
        except sa.exc.SQLAlchemyError as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if not projector_enabled:
            checks["projector"] = "disabled"
        else:
            projector = request.app.state.projector
            alive = projector is not None and projector.is_alive()
            checks["projector"] = "ok" if alive else "not running"
        healthy = all(v in ("ok", "disabled") for v in checks.values())
        body = HealthOut(status="ok" if healthy else "failing", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics (text exposition format)",
    )
    def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(
                field=".".join(str(part) for part in error.get("loc", ())) or "request",
                reason=str(error.get("msg", "invalid")).removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
        summary = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3])
        body = ValidationErrorOut(detail=f"invalid request: {summary}", errors=errors)
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(TaskNotFoundError)
    async def not_found(_: Request, exc: TaskNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(TaskNotOpenError)
    async def not_open(_: Request, exc: TaskNotOpenError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "state": exc.state}, status_code=409)

    @app.exception_handler(FeedbackUnavailableError)
    async def feedback_unavailable(_: Request, exc: FeedbackUnavailableError) -> JSONResponse:
        log.warning("resolve refused: %s", str(exc))  # a str: a record must not pin the error
        return JSONResponse(
            {"detail": f"{exc}; nothing was changed, retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(sa.exc.OperationalError)
    @app.exception_handler(sa.exc.InterfaceError)
    @app.exception_handler(sa.exc.TimeoutError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", str(exc))
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
