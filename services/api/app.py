"""The HTTP API: team queues, one task, resolving it, per-team counts, latency stats.

Built by :func:`create_app` from settings and injected parts (engine,
feedback publisher, metrics registry, clock), so tests swap any of them.
Errors are translated here: bad input is a 422 naming the field, a missing
task a 404, a task in the wrong state a 409, an unavailable broker or
database a 503 with ``Retry-After`` — never a 500 for what a client sent.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations, and some (the page size limit) refer to create_app's locals.
import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from schemas import topics
from services.api import auth
from services.api.aggregates import feedback_latency_sql, figures_sql
from services.api.callbacks import CallbackFormat, Deliverer, DeliveryPolicy
from services.api.clock import Clock, utc_now
from services.api.db import TASK_ID_PATTERN, Callback, Task, make_engine
from services.api.errors import (
    BadActionError,
    FeedbackUnavailableError,
    NotAuthenticatedError,
    NotFoundError,
    ScopeRequiredError,
    TaskNotFoundError,
    TaskNotOpenError,
    VersionConflictError,
)
from services.api.feedback import Change, FeedbackPublisher, KafkaFeedbackPublisher, change_task
from services.api.figures import Figures, figures, who_waits
from services.api.lifecycle import ACTIVE
from services.api.metrics import ApiMetrics
from services.api.projector import KafkaDeadLetters, Projector, ProjectorConfig
from services.api.repository import (
    Cursor,
    SlaFilter,
    SqlTaskRepository,
    StateFilter,
    TaskQuery,
)
from services.api.rules import ApiRules, KafkaRules, RulesUnavailableError, unknown_team
from services.api.settings import ApiSettings
from services.core.errors import RuleError
from services.core.routing import Decision
from services.core.stats import LatencySummary, summarize
from services.router.rules_feed import RuleSet

log = logging.getLogger(__name__)

RETRY_AFTER_S: Final = 5
MESSAGE_MAX: Final = 20_000
RULES_TEXT_MAX: Final = 256_000  # characters; a published record must stay under Kafka's 1 MB
LABELS_MAX: Final = 100

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


TeamName = Annotated[
    str,
    AfterValidator(_team_name),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$", "maxLength": 63}),
]
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
    state: Literal[
        "open", "acknowledged", "in_progress", "resolved", "rejected", "reassigned", "reopened"
    ]
    department: str | None = Field(default=None, description="The department that asked")
    raised_at: datetime = Field(description="When the origin raised the request (UTC)")
    routed_at: datetime
    sla_due: datetime
    projected_at: datetime = Field(description="When the API stored the routed task")
    resolved_at: datetime | None
    resolution: str | None = Field(description="The answer sent back to the origin")
    feedback_latency_s: float | None = Field(
        description="From raised_at to the answer, in seconds; once the origin acknowledged "
        "the delivered answer (2xx), to that moment"
    )
    version: int = Field(description="Send it back as expected_version to change safely")
    updated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    feedback_delivered_at: datetime | None = Field(
        default=None, description="When the origin acknowledged the answer (2xx)"
    )
    event_count: int = Field(default=1, description="Source events grouped into this task")
    summary: str | None = Field(default=None, description="e.g. 14 requests from 3 accounts")
    acknowledge_by: datetime | None = None
    sla_state: Literal["ok", "breached", "met", "missed"] | None = Field(
        default=None, description="Active: ok or breached; closed: met or missed"
    )


def task_out(task: Task, now: datetime) -> TaskOut:
    out = TaskOut.model_validate(task)
    if task.state in ACTIVE:
        sla = "ok" if task.sla_due >= now else "breached"
    else:
        done = task.resolved_at or now
        sla = "met" if done <= task.sla_due else "missed"
    return out.model_copy(update={"sla_state": sla})


class TimelineEntry(_Out):
    seq: int
    event_id: str
    type: str = Field(examples=["task.acknowledged"])
    at: datetime
    actor: str
    from_state: str
    to_state: str
    team: str
    message: str | None


class AttemptOut(_Out):
    attempt: int
    at: datetime
    status_code: int | None
    latency_s: float
    error: str | None


class DeliveryOut(_Out):
    delivery_id: str = Field(description="The idempotency key the origin sees")
    event_id: str
    source: str
    task_state: str
    url: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    origin_event_id: str | None = Field(default=None, description="The request it answers")
    origin_ref: str | None = Field(default=None, description="Its id in the origin, e.g. ticket")
    log: list[AttemptOut] = []


class SourceEventOut(BaseModel):
    source_event_id: str
    source: str
    ref: str | None = Field(default=None, description="Its id in the origin, e.g. a ticket id")
    raised_at: datetime | None = None


def _event_ids(task: Task) -> list[str]:
    """The grouped source events (the router keeps the recent ids), the first one first."""
    try:
        ids = json.loads(task.event_ids) if task.event_ids else []
    except ValueError:
        ids = []
    ids = [i for i in ids if isinstance(i, str)] or [task.source_event_id]
    return ids if task.source_event_id in ids else [task.source_event_id, *ids]


class ElsewhereOut(BaseModel):
    team: str
    state: str
    count: int


class RequesterUpdateOut(_Out):
    event_id: str
    origin_event_id: str = Field(description="The request it changed (see source_events)")
    source: str
    ref: str = Field(description="The request's id in its tool, e.g. the ticket id")
    change: Literal["comment", "priority", "status", "other"]
    comment: str | None
    public: bool | None = Field(description="A public reply (else an internal note), if known")
    priority: str | None
    previous_priority: str | None
    status: str | None
    previous_status: str | None
    requester_email: str
    at: datetime


class TaskDetail(TaskOut):
    source_events: list[SourceEventOut]
    timeline: list[TimelineEntry]
    related: list[TaskOut] = Field(description="Other tasks of the same account you may see")
    related_elsewhere: list[ElsewhereOut] = Field(
        description="Other teams' tasks of the same account, counted (not shown)"
    )
    deliveries: list[DeliveryOut]
    requester_updates: list[RequesterUpdateOut] = Field(
        default=[],
        description="What the askers changed on their requests since (comments, priority), "
        "as their tools reported it; the last 200, oldest first",
    )


class TaskList(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: done")


class AccountOut(BaseModel):
    account: str
    tasks: list[TaskOut]
    elsewhere: list[ElsewhereOut]


class TaskPage(BaseModel):
    team: str
    count: int = Field(description="How many tasks match in total (all pages)")
    tasks: list[TaskOut]


# The schema says what _storable_text checks: no NUL, and something besides whitespace.
MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX),
    AfterValidator(_storable_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MESSAGE_MAX,
            "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$",
        }
    ),
]
OptionalMessage = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MESSAGE_MAX),
    AfterValidator(_storable_text),
    WithJsonSchema({"type": "string", "maxLength": MESSAGE_MAX, "pattern": r"^[^\x00]*$"}),
]
ExpectedVersion = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The version you last read; a different current version is a 409",
    ),
]


class ResolveRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "Fixed in release 4.2"}]}
    )

    message: MessageText = Field(description="The answer for whoever raised the request")
    expected_version: ExpectedVersion = None


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"message": ""}]})

    message: OptionalMessage = Field(default="", description="An optional note")
    expected_version: ExpectedVersion = None


class ReasonRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "Not a billing issue"}]}
    )

    message: MessageText = Field(description="Why")
    expected_version: ExpectedVersion = None


class CommentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"message": "再現できました。修正中です。", "public": True}]
        },
    )

    message: MessageText = Field(description="The comment")
    public: bool = Field(
        default=False,
        description="Shown to the asker in their tool (a public reply); else an internal note",
    )
    expected_version: ExpectedVersion = None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team": "payments", "message": "Card issue"}]},
    )

    team: TeamName = Field(description="The team that takes the task over")
    message: MessageText = Field(description="Why it moves")
    expected_version: ExpectedVersion = None


class TeamSummary(BaseModel):
    team: str
    open: int = Field(description="Tasks in state open")
    resolved: int
    backlog: int = Field(default=0, description="Tasks not yet resolved or rejected")
    sla_breached: int = Field(default=0, description="Backlog tasks past their SLA deadline")
    oldest_open_raised_at: datetime | None = None
    states: dict[str, int] = Field(default_factory=dict)
    events: int = Field(default=0, description="Source events grouped into the team's tasks")


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


class ScopeErrorOut(ErrorOut):
    required_scope: str


class ConflictOut(ErrorOut):
    state: str = Field(description="The task's current state")
    version: int | None = None


TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class TeamTokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team": "billing-ui", "scope": "write", "name": "jira"}]},
    )

    team: TeamName = Field(description="The team whose tasks the token reads (and changes)")
    scope: Literal["read", "write"] = "read"
    name: TokenName = "token"


class AdminTokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"scope": "admin", "name": "ops"}]}
    )

    scope: Literal["admin"]
    name: TokenName = "token"


class TokenOut(BaseModel):
    token_id: str
    team: str | None
    scope: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class NewTokenOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored")


class CallbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "/sources/support",
                    "url": "https://helpdesk.example.com/hooks/handoff",
                    "secret": "s3cr3t-s3cr3t-s3cr3t",
                    "format": "zendesk",
                }
            ]
        },
    )

    source: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The CloudEvents source whose tasks report back here"
    )
    url: Annotated[
        AnyHttpUrl,
        WithJsonSchema(
            {
                "type": "string",
                "maxLength": 2048,
                # What the URL parser accepts: a name whose last label starts with a
                # letter (else it reads as an IPv4 address), or a dotted quad.
                "pattern": r"^https?://(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
                r"|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})"
                r"(:[1-9][0-9]{0,3})?(/[A-Za-z0-9/._{}-]*)?$",
                "examples": ["https://helpdesk.example.com/hooks/handoff"],
            }
        ),
    ] = Field(
        description="Where updates are POSTed (http or https); {ticket_id} in it becomes "
        "the id of the request in its own tool"
    )
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] = Field(
        description="Signs each delivery: HMAC-SHA256 of '<timestamp>.<body>'"
    )
    format: CallbackFormat = "generic"


class CallbackOut(BaseModel):
    source: str
    url: str
    format: str
    created_at: datetime


RULES_EXAMPLE: Final = """teams:
  support-triage: {department: support}
  billing: {department: engineering, escalate_to: eng-oncall}
  eng-oncall: {department: engineering}
route:
  team: support-triage
  group_by: [account]
  routes:
    - matchers: ['type="support.ticket"', 'component=~"billing-ui|invoices"']
      team: billing
"""

RulesText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=RULES_TEXT_MAX),
    AfterValidator(_storable_text),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": RULES_TEXT_MAX, "pattern": r"^[^\x00]*$"}
    ),
]
RulesFileName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)
]
LabelName = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(_storable_text)
]
LabelValue = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_storable_text)]
# Pydantic would say the key constraints as patternProperties, which leave other keys open.
Labels = Annotated[
    dict[LabelName, LabelValue],
    Field(max_length=LABELS_MAX),
    WithJsonSchema(
        {
            "type": "object",
            "description": "The event's labels; an absent label is empty",
            "maxProperties": LABELS_MAX,
            "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": r"^[^\x00]*$"},
            "additionalProperties": {"type": "string", "maxLength": 1024, "pattern": r"^[^\x00]*$"},
        }
    ),
]


class RulesRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"yaml": RULES_EXAMPLE, "name": "routing.yaml"}]},
    )

    yaml: RulesText = Field(
        description="The routing file (teams, route tree, ownership, calendars, SLA policies) "
        "as text, exactly as `handoff rules publish FILE` would send it"
    )
    name: RulesFileName = Field(
        default="routing.yaml", description="Its file name: errors and GET /v1/rules show it"
    )


class RulesPublishedOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"version": "3f2a9c1e4b7d", "name": "routing.yaml", "team_count": 3}]
        }
    )

    version: str = Field(description="A short sha256 of the text; the router workers report it")
    name: str
    team_count: int


class RuleTeamOut(BaseModel):
    name: str
    department: str | None
    escalate_to: str | None = Field(description="Who a breached SLA escalates to")


class RulesOut(BaseModel):
    version: str
    name: str = Field(description="The file name it was published (or read) as")
    teams: list[RuleTeamOut]
    yaml: str = Field(description="The rule file's text")


class RulesTestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "labels": {
                        "type": "support.ticket",
                        "component": "billing-ui",
                        "priority": "urgent",
                    }
                }
            ]
        },
    )

    labels: Labels
    at: UtcInstant | None = Field(
        default=None, description="When the event was raised, for the SLA deadlines (default: now)"
    )


class RouteDecisionOut(BaseModel):
    route_id: str = Field(examples=["/0/0"])
    team: str
    department: str | None
    reason: str = Field(description="Why this team: the route (and the ownership entry)")
    sla: str | None = Field(description="The SLA policy")
    acknowledge_by: datetime | None
    resolve_by: datetime | None
    group_key: str = Field(description="Events with the same key become one task")
    escalate_to: str | None
    labels: dict[str, str] = Field(description="Labels the route adds")
    capacity: bool = Field(description="Checked against a production line's capacity first")

    @classmethod
    def of(cls, decision: Decision) -> "RouteDecisionOut":
        acknowledge_by, resolve_by = (
            decision.clocks.deadlines if decision.clocks is not None else (None, None)
        )
        return cls(
            route_id=decision.route_id,
            team=decision.team,
            department=decision.department,
            reason=decision.reason,
            sla=decision.sla,
            acknowledge_by=acknowledge_by,
            resolve_by=resolve_by,
            group_key=decision.group_key,
            escalate_to=decision.escalate_to,
            labels=dict(decision.labels),
            capacity=decision.capacity is not None,
        )


class RulesTestOut(BaseModel):
    rules_version: str
    teams: list[str] = Field(description="Who gets the event, in match order")
    routes: list[RouteDecisionOut]


class FieldError(BaseModel):
    field: str = Field(description="Where: path.*, query.* or body.*")
    reason: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldError]


_422: Final[dict[int | str, dict[str, Any]]] = {422: {"model": ValidationErrorOut}}
_AUTH: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorOut, "description": "No token or an unknown one"},
    403: {"model": ScopeErrorOut, "description": "The token lacks the scope"},
}
_TASK: Final[dict[int | str, dict[str, Any]]] = {
    **_AUTH,
    404: {"model": ErrorOut, "description": "No such task (or not your team's)"},
    **_422,
}
_CHANGE: Final[dict[int | str, dict[str, Any]]] = {
    **_TASK,
    409: {"model": ConflictOut, "description": "Not allowed in the current state, or stale"},
    413: {"model": ErrorOut, "description": "Body over the size limit"},
    503: {"model": ErrorOut, "description": "The broker did not acknowledge; retry"},
}


def encode_cursor(task: Task) -> str:
    raw = json.dumps([task.raised_at.isoformat(), task.task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    try:
        padded = value + "=" * (-len(value) % 4)
        raised, task_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = datetime.fromisoformat(raised)
        if when.tzinfo is None or not isinstance(task_id, str):
            raise ValueError(value)
        return Cursor(when.astimezone(UTC), task_id)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise BadActionError("query.cursor", "not a cursor this API returned") from None


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


class FiguresOut(BaseModel):
    department: str
    team: str
    tasks: int
    feedback_latency: LatencyOut = Field(description="Raised -> answer acknowledged by origin")
    time_to_route: LatencyOut
    time_to_acknowledge: LatencyOut
    time_to_resolve: LatencyOut
    acknowledged_in_time: float | None = Field(description="Share acknowledged by the SLA due")
    resolved_in_time: float | None = Field(description="Share resolved by the SLA due")

    @classmethod
    def of(cls, f: Figures) -> "FiguresOut":
        return cls(
            department=f.department,
            team=f.team,
            tasks=f.tasks,
            feedback_latency=LatencyOut.of(f.feedback_latency),
            time_to_route=LatencyOut.of(f.time_to_route),
            time_to_acknowledge=LatencyOut.of(f.time_to_acknowledge),
            time_to_resolve=LatencyOut.of(f.time_to_resolve),
            acknowledged_in_time=f.acknowledged_in_time,
            resolved_in_time=f.resolved_in_time,
        )


class FiguresPage(BaseModel):
    groups: list[FiguresOut]


class WaitingOut(BaseModel):
    department: str = Field(description="Who asked")
    team: str = Field(description="Who answers")
    open: int
    median_feedback_latency_s: float | None


class WhoWaitsOut(BaseModel):
    pairs: list[WaitingOut]


def create_app(
    settings: ApiSettings,
    *,
    engine: sa.Engine | None = None,
    publisher: FeedbackPublisher | None = None,
    registry: CollectorRegistry | None = None,
    start_projector: bool | None = None,
    start_deliverer: bool | None = None,
    dead_letters: Any = None,
    rules: ApiRules | None = None,
    start_rules_feed: bool | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The API. Parts not given are built from ``settings`` (and closed at shutdown).

    The routing rules follow ``handoff.rules`` when the Kafka parts run (the
    projector's setting, or ``start_rules_feed``); given ``rules`` are used as
    they are (a fixed set in tests).
    """
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
    deliverer_enabled = settings.api_delivery if start_deliverer is None else start_deliverer
    feed_enabled = rules is None and (
        projector_enabled if start_rules_feed is None else start_rules_feed
    )
    kafka_rules = KafkaRules(
        settings.kafka_bootstrap,
        key=settings.api_rules_key,
        file=settings.api_rules_file,
        publish_timeout_s=settings.api_feedback_ack_timeout_s,
    )
    routing: ApiRules = rules if rules is not None else kafka_rules
    page_max = settings.api_page_size_max
    auth_required = settings.api_auth == "required"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        projector: Projector | None = None
        deliverer: Deliverer | None = None
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
        parked = dead_letters
        if deliverer_enabled:
            if parked is None:
                parked = KafkaDeadLetters(
                    settings.kafka_bootstrap, ack_timeout_s=settings.api_feedback_ack_timeout_s
                )
            deliverer = Deliverer(
                db,
                DeliveryPolicy(
                    max_attempts=settings.api_delivery_max_attempts,
                    backoff_initial_s=settings.api_delivery_backoff_initial_s,
                    backoff_max_s=settings.api_delivery_backoff_max_s,
                    timeout_s=settings.api_delivery_timeout_s,
                    poll_interval_s=settings.api_delivery_poll_s,
                ),
                dead_letters=parked,
                metrics=metrics,
                clock=clock,
            )
            deliverer.start()
        if feed_enabled:
            kafka_rules.start()
        app.state.projector = projector
        app.state.deliverer = deliverer
        try:
            yield
        finally:
            if feed_enabled:
                await run_in_threadpool(kafka_rules.stop)
            if deliverer is not None:
                await run_in_threadpool(deliverer.stop)
                if dead_letters is None and parked is not None:
                    await run_in_threadpool(parked.close)
            if projector is not None:
                await run_in_threadpool(projector.stop)
            if owns_publisher:
                await run_in_threadpool(feedback.close)
            if owns_engine:
                db.dispose()

    app = FastAPI(
        title="handoff API",
        version="1",
        summary="Team queues of routed tasks, their lifecycle, answers sent back to the asker, "
        "and how long askers wait.",
        description="Authenticate with `Authorization: Bearer <token>` "
        "(`handoff tokens create --team T [--scope read|write]`). A team token sees only its "
        "team's tasks; another team's task is a 404.",
        lifespan=lifespan,
    )
    app.state.projector = None
    app.state.deliverer = None
    app.state.metrics = metrics
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    _add_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="An API token (hf_...)")

    def caller(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> auth.Principal:
        if not auth_required:
            return auth.ANONYMOUS_ADMIN
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise NotAuthenticatedError("a token is required (Authorization: Bearer <token>)")
        principal = auth.authenticate(db, credentials.credentials)
        if principal is None:
            raise NotAuthenticatedError("the token is unknown or revoked")
        return principal

    def reader(principal: Annotated[auth.Principal, Depends(caller)]) -> auth.Principal:
        return principal  # every valid token reads (its own team)

    def writer(principal: Annotated[auth.Principal, Depends(caller)]) -> auth.Principal:
        if not principal.can("write"):
            raise ScopeRequiredError("write")
        return principal

    def admin(principal: Annotated[auth.Principal, Depends(caller)]) -> auth.Principal:
        if not principal.is_admin:
            raise ScopeRequiredError("admin")
        return principal

    Reader = Annotated[auth.Principal, Depends(reader)]  # noqa: N806
    Writer = Annotated[auth.Principal, Depends(writer)]  # noqa: N806
    Admin = Annotated[auth.Principal, Depends(admin)]  # noqa: N806
    TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN)]  # noqa: N806

    def elsewhere(tasks: list[Task], principal: auth.Principal) -> list[ElsewhereOut]:
        counts: dict[tuple[str, str], int] = {}
        for task in tasks:
            if not principal.sees_team(task.team):
                counts[(task.team, task.state)] = counts.get((task.team, task.state), 0) + 1
        return [ElsewhereOut(team=t, state=s, count=n) for (t, s), n in sorted(counts.items())]

    def visible_task(task_id: str, principal: auth.Principal) -> Task:
        task = repository.get(task_id)
        if not principal.sees_team(task.team):
            raise TaskNotFoundError(task_id)
        return task

    @app.get(
        "/v1/teams/{team}/tasks",
        response_model=TaskPage,
        responses={**_AUTH, 404: {"model": ErrorOut}, **_422},
        summary="A team's tasks, oldest raised first",
    )
    def team_tasks(
        principal: Reader,
        team: Annotated[TeamName, Path(description="Team name, e.g. billing-ui")],
        state: Annotated[StateFilter, Query(description="Which tasks")] = "open",
        limit: Annotated[int, Query(ge=1, le=page_max, description="Page size")] = min(
            100, page_max
        ),
        offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Tasks to skip")] = 0,
    ) -> TaskPage:
        if not principal.sees_team(team):
            raise NotFoundError(f"team {team!r} not found")
        count, tasks = repository.team_tasks(team, state=state, limit=limit, offset=offset)
        now = clock()
        return TaskPage(team=team, count=count, tasks=[task_out(t, now) for t in tasks])

    @app.get(
        "/v1/tasks",
        response_model=TaskList,
        responses={**_AUTH, 404: {"model": ErrorOut}, **_422},
        summary="Tasks matching filters, oldest raised first, with a cursor for the next page",
    )
    def list_tasks(
        principal: Reader,
        team: Annotated[TeamName | None, Query(description="Only this team")] = None,
        state: Annotated[StateFilter, Query(description="State, 'active' or 'all'")] = "all",
        sla: Annotated[SlaFilter | None, Query(description="SLA standing")] = None,
        account: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
        department: Annotated[
            str | None, Query(min_length=1, max_length=64, description="Who asked, e.g. support")
        ] = None,
        created_since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
        updated_since: Annotated[
            UtcInstant | None, Query(description="Changed at or after")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = min(100, page_max),
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> TaskList:
        if principal.team is not None:
            if team is not None and team != principal.team:
                raise NotFoundError(f"team {team!r} not found")
            team = principal.team
        query = TaskQuery(
            team=team,
            state=state,
            sla=sla,
            account=account,
            department=department,
            created_since=created_since,
            updated_since=updated_since,
        )
        after = decode_cursor(cursor) if cursor is not None else None
        now = clock()
        tasks = repository.list_tasks(query, now=now, limit=limit + 1, after=after)
        page = tasks[:limit]
        next_cursor = encode_cursor(page[-1]) if len(tasks) > limit else None
        return TaskList(tasks=[task_out(t, now) for t in page], next_cursor=next_cursor)

    def source_events(task: Task) -> list[SourceEventOut]:
        known = {o.event_id: o for o in repository.origins(task.task_id)}
        listed = [
            SourceEventOut(source_event_id=o.event_id, source=o.source, ref=o.ref,
                           raised_at=o.raised_at)
            for o in known.values()
        ]  # fmt: skip
        return listed + [
            SourceEventOut(source_event_id=event_id, source=task.source)
            for event_id in _event_ids(task)
            if event_id not in known
        ]

    @app.get(
        "/v1/tasks/{task_id}",
        response_model=TaskDetail,
        responses=_TASK,
        summary="One task with its timeline, deliveries and the account's other tasks",
    )
    def get_task(principal: Reader, task_id: TaskIdPath) -> TaskDetail:
        task = visible_task(task_id, principal)
        now = clock()
        others = [
            t for t in repository.account_tasks(task.account, limit=200) if t.task_id != task_id
        ]
        deliveries = [
            DeliveryOut.model_validate(d).model_copy(
                update={"log": [AttemptOut.model_validate(a) for a in attempts]}
            )
            for d, attempts in repository.deliveries(task_id)
        ]
        return TaskDetail(
            **task_out(task, now).model_dump(),
            source_events=source_events(task),
            timeline=[TimelineEntry.model_validate(e) for e in repository.timeline(task_id)],
            related=[task_out(t, now) for t in others if principal.sees_team(t.team)],
            related_elsewhere=elsewhere(others, principal),
            deliveries=deliveries,
            requester_updates=[
                RequesterUpdateOut.model_validate(u) for u in repository.origin_updates(task)
            ],
        )

    def change(
        task_id: str, principal: auth.Principal, action: str, message: str, **kw: Any
    ) -> TaskOut:
        task = change_task(
            db,
            task_id,
            Change(
                action, message=message, actor=principal.name, visible_team=principal.team, **kw
            ),
            publisher=feedback,
            clock=clock,
            metrics=metrics,
        )
        return task_out(task, clock())

    @app.post(
        "/v1/tasks/{task_id}/resolve",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Answer a task; the answer is sent back to whoever asked",
    )
    def resolve(principal: Writer, task_id: TaskIdPath, body: ResolveRequest) -> TaskOut:
        return change(
            task_id, principal, "resolve", body.message, expected_version=body.expected_version
        )

    @app.post(
        "/v1/tasks/{task_id}/acknowledge",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="The team has seen the task (stops the acknowledge SLA clock)",
    )
    def acknowledge(principal: Writer, task_id: TaskIdPath, body: ActionRequest) -> TaskOut:
        return change(
            task_id, principal, "acknowledge", body.message, expected_version=body.expected_version
        )

    @app.post(
        "/v1/tasks/{task_id}/start",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Work on the task has started (in_progress)",
    )
    def start(principal: Writer, task_id: TaskIdPath, body: ActionRequest) -> TaskOut:
        return change(
            task_id, principal, "start", body.message, expected_version=body.expected_version
        )

    @app.post(
        "/v1/tasks/{task_id}/reject",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Refuse the task, with a reason sent back to whoever asked",
    )
    def reject(principal: Writer, task_id: TaskIdPath, body: ReasonRequest) -> TaskOut:
        return change(
            task_id, principal, "reject", body.message, expected_version=body.expected_version
        )

    @app.post(
        "/v1/tasks/{task_id}/reopen",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Reopen a resolved or rejected task, with a reason",
    )
    def reopen(principal: Writer, task_id: TaskIdPath, body: ReasonRequest) -> TaskOut:
        return change(
            task_id, principal, "reopen", body.message, expected_version=body.expected_version
        )

    @app.post(
        "/v1/tasks/{task_id}/reassign",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Hand the task to another team, with a reason",
    )
    def reassign(principal: Writer, task_id: TaskIdPath, body: ReassignRequest) -> TaskOut:
        visible_task(task_id, principal)  # a task the caller cannot see stays a 404
        if (reason := unknown_team(body.team, routing.current)) is not None:
            raise BadActionError("body.team", reason)
        return change(
            task_id,
            principal,
            "reassign",
            body.message,
            to_team=body.team,
            expected_version=body.expected_version,
        )

    @app.post(
        "/v1/tasks/{task_id}/comments",
        response_model=TaskOut,
        responses=_CHANGE,
        summary="Comment on a task (task.commented; the state stays); the origins get it too",
    )
    def comment(principal: Writer, task_id: TaskIdPath, body: CommentRequest) -> TaskOut:
        return change(
            task_id,
            principal,
            "comment",
            body.message,
            expected_version=body.expected_version,
            public=body.public,
        )

    @app.get(
        "/v1/accounts/{account}",
        response_model=AccountOut,
        responses={**_AUTH, **_422},
        summary="All tasks of one account across departments (other teams' counted)",
    )
    def account_view(
        principal: Reader,
        account: Annotated[str, Path(min_length=1, max_length=320)],
        limit: Annotated[int, Query(ge=1, le=page_max)] = min(100, page_max),
    ) -> AccountOut:
        tasks = repository.account_tasks(account, limit=limit)
        now = clock()
        return AccountOut(
            account=account,
            tasks=[task_out(t, now) for t in tasks if principal.sees_team(t.team)],
            elsewhere=elsewhere(tasks, principal),
        )

    @app.get(
        "/v1/teams",
        response_model=TeamsOut,
        responses=_AUTH,
        summary="Every team with its backlog and SLA standing",
    )
    def teams(principal: Reader) -> TeamsOut:
        standings = repository.team_standings(now=clock(), team=principal.team)
        return TeamsOut(
            teams=[
                TeamSummary(
                    team=s.team,
                    open=s.states.get("open", 0),
                    resolved=s.states.get("resolved", 0),
                    backlog=s.backlog,
                    sla_breached=s.sla_breached,
                    oldest_open_raised_at=s.oldest_open_raised_at,
                    states=s.states,
                    events=s.events,
                )
                for s in standings
            ]
        )

    @app.get(
        "/v1/stats/feedback-latency",
        response_model=LatencyStats,
        responses={**_AUTH, **_422},
        summary="Feedback latency (raised -> answered) of resolved tasks, overall and per team",
    )
    def feedback_latency(
        principal: Reader,
        team: Annotated[TeamName | None, Query(description="Only this team")] = None,
        since: Annotated[
            UtcInstant | None,
            Query(description="Only tasks answered at or after this (ISO 8601, with offset)"),
        ] = None,
    ) -> LatencyStats:
        if db.dialect.name == "postgresql":
            with db.connect() as conn:
                overall, summaries = feedback_latency_sql(conn, team=team, since=since)
            return LatencyStats(
                overall=LatencyOut.of(overall),
                teams={name: LatencyOut.of(value) for name, value in summaries.items()},
            )
        by_team = repository.feedback_latencies(team=team, since=since)
        every = [value for values in by_team.values() for value in values]
        return LatencyStats(
            overall=LatencyOut.of(summarize(every)),
            teams={name: LatencyOut.of(summarize(values)) for name, values in by_team.items()},
        )

    @app.get(
        "/v1/stats/figures",
        response_model=FiguresPage,
        responses={**_AUTH, **_422},
        summary="Latencies (feedback, route, acknowledge, resolve) and SLA compliance "
        "per source department x team, for tasks raised in a window",
    )
    def stats_figures(
        principal: Reader,
        since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
        until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
        team: Annotated[TeamName | None, Query()] = None,
        department: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> FiguresPage:
        if db.dialect.name == "postgresql":
            with db.connect() as conn:
                found = figures_sql(
                    conn, now=clock(), since=since, until=until, team=team, department=department
                )
            return FiguresPage(groups=[FiguresOut.of(f) for f in found])
        rows = repository.figure_rows(since=since, until=until, team=team, department=department)
        return FiguresPage(groups=[FiguresOut.of(f) for f in figures(rows, clock())])

    @app.get(
        "/v1/stats/who-waits",
        response_model=WhoWaitsOut,
        responses={**_AUTH, **_422},
        summary="Who waits on whom: open requests and median feedback latency per "
        "asking department x answering team",
    )
    def stats_who_waits(
        principal: Reader,
        since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
        until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
    ) -> WhoWaitsOut:
        rows = repository.figure_rows(since=since, until=until, team=None, department=None)
        return WhoWaitsOut(
            pairs=[
                WaitingOut(
                    department=w.department,
                    team=w.team,
                    open=w.open,
                    median_feedback_latency_s=w.median_feedback_latency_s,
                )
                for w in who_waits(rows)
            ]
        )

    # --- admin: tokens and callbacks ------------------------------------------------------------

    @app.post(
        "/v1/admin/tokens",
        response_model=NewTokenOut,
        status_code=201,
        responses={**_AUTH, **_422},
        summary="Create a token; the token is in this answer only",
    )
    def create_token(principal: Admin, body: TeamTokenRequest | AdminTokenRequest) -> NewTokenOut:
        team = body.team if isinstance(body, TeamTokenRequest) else None
        new = auth.create_token(db, team=team, scope=body.scope, name=body.name, now=clock())
        return NewTokenOut(
            token_id=new.token_id,
            token=new.token,
            team=new.team,
            scope=new.scope,
            name=new.name,
            created_at=new.created_at,
        )

    @app.get("/v1/admin/tokens", response_model=list[TokenOut], responses=_AUTH)
    def list_tokens(principal: Admin) -> list[TokenOut]:
        return [
            TokenOut(
                token_id=t.token_id,
                team=t.team,
                scope=t.scope,
                name=t.name,
                created_at=t.created_at,
                revoked_at=t.revoked_at,
            )
            for t in auth.list_tokens(db)[:page_max]
        ]

    @app.delete(
        "/v1/admin/tokens/{token_id}",
        status_code=204,
        responses={**_AUTH, 404: {"model": ErrorOut}, **_422},
        summary="Revoke a token",
    )
    def revoke_token(
        principal: Admin, token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
    ) -> Response:
        if not auth.revoke_token(db, token_id, clock()):
            raise NotFoundError(f"token {token_id!r} not found")
        return Response(status_code=204)

    @app.put(
        "/v1/admin/callbacks",
        response_model=CallbackOut,
        responses={**_AUTH, **_422},
        summary="Register (or replace) the callback of a source system",
    )
    def put_callback(principal: Admin, body: CallbackRequest) -> CallbackOut:
        now = clock()
        with Session(db, expire_on_commit=False) as session, session.begin():
            row = session.get(Callback, body.source)
            if row is None:
                row = Callback(source=body.source, created_at=now)
                session.add(row)
            row.url = str(body.url)
            row.secret = body.secret
            row.format = body.format
        return CallbackOut(
            source=row.source, url=row.url, format=row.format, created_at=row.created_at
        )

    @app.get("/v1/admin/callbacks", response_model=list[CallbackOut], responses=_AUTH)
    def list_callbacks(principal: Admin) -> list[CallbackOut]:
        with Session(db) as session:
            rows = session.scalars(sa.select(Callback).order_by(Callback.source).limit(page_max))
            return [
                CallbackOut(source=r.source, url=r.url, format=r.format, created_at=r.created_at)
                for r in rows
            ]

    # --- routing rules --------------------------------------------------------------------------

    def rule_set_in_force() -> RuleSet:
        found = routing.rule_set
        if found is None:
            raise RulesUnavailableError(
                "no routing rules are known to this API yet (it follows handoff.rules while its "
                "Kafka parts run; with them off it knows none)"
            )
        return found

    @app.get(
        "/v1/rules",
        response_model=RulesOut,
        responses={**_AUTH, 503: {"model": ErrorOut, "description": "No rule set known yet"}},
        summary="The routing rules in force: version, teams and the rule file's text",
    )
    def get_rules(principal: Reader) -> RulesOut:
        found = rule_set_in_force()
        return RulesOut(
            version=found.version,
            name=found.name,
            teams=[
                RuleTeamOut(name=t.name, department=t.department, escalate_to=t.escalate_to)
                for t in sorted(found.rules.teams.values(), key=lambda t: t.name)
            ],
            yaml=found.text,
        )

    @app.post(
        "/v1/rules/test",
        response_model=RulesTestOut,
        responses={
            **_AUTH,
            **_422,
            503: {"model": ErrorOut, "description": "No rule set known yet"},
        },
        summary="Who would get an event with these labels (as `handoff routes test --json`)",
    )
    def rules_test(principal: Reader, body: RulesTestRequest) -> RulesTestOut:
        found = rule_set_in_force()
        try:
            decisions = found.rules.decide(body.labels, body.at or clock())
        except OverflowError:
            raise BadActionError("body.at", "too far in time to compute SLA deadlines") from None
        return RulesTestOut(
            rules_version=found.version,
            teams=[d.team for d in decisions],
            routes=[RouteDecisionOut.of(d) for d in decisions],
        )

    @app.put(
        "/v1/admin/rules",
        response_model=RulesPublishedOut,
        responses={
            **_AUTH,
            **_422,
            413: {"model": ErrorOut, "description": "Body over the size limit"},
            503: {"model": ErrorOut, "description": "The broker did not acknowledge; retry"},
        },
        summary="Validate and publish routing rules; router workers take them without a restart",
        description="A rule file that does not load is a 422 naming the line "
        "(`routing.yaml:12: ...`) and nothing is published. Publishing the same text again "
        "is harmless: it is the same version.",
    )
    def put_rules(principal: Admin, body: RulesRequest) -> RulesPublishedOut:
        try:
            published = routing.publish(body.yaml, name=body.name)
        except RuleError as exc:
            raise BadActionError("body.yaml", str(exc)) from None
        log.info("rules version %s published by %s", published.version, principal.name)
        return RulesPublishedOut(
            version=published.version, name=body.name, team_count=len(published.teams)
        )

    @app.get(
        "/healthz",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "A part failed"}},
        summary="Database reachable, projector, deliverer and rules feed running (when enabled)",
    )
    def healthz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            repository.ping()
            checks["database"] = "ok"
        except sa.exc.SQLAlchemyError as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        for part, enabled in (("projector", projector_enabled), ("deliverer", deliverer_enabled)):
            if not enabled:
                checks[part] = "disabled"
            else:
                worker = getattr(request.app.state, part)
                checks[part] = "ok" if worker is not None and worker.is_alive() else "not running"
        if rules is None and not feed_enabled:
            checks["rules"] = "disabled"
        else:
            checks["rules"] = "ok" if routing.is_alive() else "not running"
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

    @app.exception_handler(VersionConflictError)
    async def stale(_: Request, exc: VersionConflictError) -> JSONResponse:
        body = {"detail": str(exc), "state": exc.state, "version": exc.version}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(BadActionError)
    async def bad_action(_: Request, exc: BadActionError) -> JSONResponse:
        body = ValidationErrorOut(
            detail=f"invalid request: {exc.field}: {exc.reason}",
            errors=[FieldError(field=exc.field, reason=exc.reason)],
        )
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(NotAuthenticatedError)
    async def unauthenticated(_: Request, exc: NotAuthenticatedError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(ScopeRequiredError)
    async def forbidden(_: Request, exc: ScopeRequiredError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "required_scope": exc.scope}, status_code=403)

    @app.exception_handler(NotFoundError)
    async def missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(FeedbackUnavailableError)
    async def feedback_unavailable(_: Request, exc: FeedbackUnavailableError) -> JSONResponse:
        log.warning("resolve refused: %s", str(exc))  # a str: a record must not pin the error
        return JSONResponse(
            {"detail": f"{exc}; nothing was changed, retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(RulesUnavailableError)
    async def rules_unavailable(_: Request, exc: RulesUnavailableError) -> JSONResponse:
        log.warning("rules unavailable: %s", str(exc))
        return JSONResponse(
            {"detail": f"{exc}; retry later"},
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
