"""Typed dependencies of the endpoints: the app's parts, the caller, the page size.

``create_app`` puts one :class:`ApiContext` on ``app.state.api``; endpoints ask
for it (``Api``) or for the caller (``Reader``, ``Writer``, ``Admin``) in their
signatures, as *full-stack-fastapi-template*'s ``SessionDep`` and ``CurrentUser``.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.
import copy
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from services.api import auth
from services.api.clock import Clock
from services.api.db import TASK_ID_PATTERN
from services.api.errors import BadActionError, NotAuthenticatedError, ScopeRequiredError
from services.api.feedback import FeedbackPublisher
from services.api.metrics import ApiMetrics
from services.api.payloads.fields import unstorable
from services.api.repository import SqlTaskRepository
from services.api.rules import ApiRules
from services.api.settings import ApiSettings

if TYPE_CHECKING:
    from services.api.workers import Workers

PAGE_DEFAULT: Final = 100


@dataclass(frozen=True)
class ApiContext:
    """What ``create_app`` built for one app: everything an endpoint or worker needs."""

    settings: ApiSettings
    engine: sa.Engine
    repository: SqlTaskRepository
    feedback: FeedbackPublisher
    metrics: ApiMetrics
    registry: CollectorRegistry
    rules: ApiRules
    clock: Clock
    workers: "Workers"

    @property
    def page_max(self) -> int:
        return self.settings.api_page_size_max


def api_context(request: Request) -> ApiContext:
    """The app's parts, as ``create_app`` left them on ``app.state.api``."""
    context: ApiContext = request.app.state.api
    return context


Api = Annotated[ApiContext, Depends(api_context)]


bearer: Final = HTTPBearer(auto_error=False, description="An API token (hf_...)")


def caller(
    request: Request,
    api: Api,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> auth.Principal:
    """Who calls: the token's principal (401 without a known one); admin with auth off."""
    if api.settings.api_auth != "required":
        return auth.ANONYMOUS_ADMIN
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticatedError(_missing_token(request.headers.get("authorization")))
    return _token_holder(api, credentials.credentials)


def _missing_token(header: str | None) -> str:
    """Why no token was read: no ``Authorization`` header, or one of another scheme."""
    if not header:
        return "a token is required (Authorization: Bearer <token>)"
    return "the Authorization header must use the Bearer scheme: Authorization: Bearer <token>"


def _token_holder(api: ApiContext, token: str) -> auth.Principal:
    principal = auth.authenticate(api.engine, token)
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


Reader = Annotated[auth.Principal, Depends(reader)]
Writer = Annotated[auth.Principal, Depends(writer)]
Admin = Annotated[auth.Principal, Depends(admin)]
TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN)]


# --- parameters the database can store -------------------------------------------------------


def storable_parameters(request: Request) -> None:
    """Refuse (422 naming it) a path or query parameter with NUL or a lone surrogate.

    An app-wide dependency: it runs for every route once it is matched, so it
    knows each path parameter's name, and the documented schema stays as it is.
    A value its own declared pattern refuses is left to that check (it says so).
    """
    patterns = _declared_patterns(request)
    given = [("path", k, v) for k, v in request.path_params.items() if isinstance(v, str)]
    given += [("query", k, v) for k, v in request.query_params.multi_items()]
    for where, name, value in given:
        if name in patterns and not re.search(patterns[name], value):
            continue
        if (reason := unstorable(value)) is not None:
            raise BadActionError(f"{where}.{name}", reason)


def _declared_patterns(request: Request) -> dict[str, str]:
    """The ``pattern`` each parameter of the matched route declares, by its name."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    fields = [*dependant.path_params, *dependant.query_params] if dependant else []
    return {
        field.alias: pattern
        for field in fields
        for meta in field.field_info.metadata
        if (pattern := getattr(meta, "pattern", None))
    }


# --- the page size: a setting that shows in the OpenAPI document ------------------------------

Endpoint = Callable[..., Any]


def with_page_max(router: APIRouter, page_max: int) -> APIRouter:
    """``router`` for one app: each endpoint's ``limit`` query bounded by ``page_max``.

    Endpoints declare ``limit`` as a query of at least 1; the bound (and the
    default, ``min(100, page_max)``) is the app's setting, so this copy binds it
    before the app includes the router.
    """
    bounded = APIRouter()
    for route in router.routes:
        if isinstance(route, APIRoute) and "limit" in inspect.signature(route.endpoint).parameters:
            route = _rebound(route, _bounded_limit(route.endpoint, page_max))
        bounded.routes.append(route)
    return bounded


def _rebound(route: APIRoute, endpoint: Endpoint) -> APIRoute:
    """A copy of ``route`` calling ``endpoint`` (the app builds its own route from it)."""
    copied = copy.copy(route)
    copied.endpoint = endpoint
    return copied


def _bounded_limit(endpoint: Endpoint, page_max: int) -> Endpoint:
    """``endpoint`` with the signature FastAPI reads saying ``1 <= limit <= page_max``."""
    signature = inspect.signature(endpoint)
    declared = signature.parameters["limit"]
    query = Query(ge=1, le=page_max, description=_description(declared))
    limit = declared.replace(annotation=Annotated[int, query], default=min(PAGE_DEFAULT, page_max))

    @functools.wraps(endpoint)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return endpoint(*args, **kwargs)

    parameters = [limit if p.name == "limit" else p for p in signature.parameters.values()]
    bounded.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return bounded


def _description(parameter: inspect.Parameter) -> str | None:
    """The description the endpoint gave its parameter's ``Query``, if any."""
    found = [getattr(meta, "description", None) for meta in parameter.annotation.__metadata__]
    return next((d for d in found if d is not None), None)
