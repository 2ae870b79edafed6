"""Errors translated at the edge: each domain error becomes its HTTP answer.

Bad input is a 422 naming the field, a missing task a 404, a task in the
wrong state a 409, an unavailable broker or database a 503 with
``Retry-After`` — never a 500 for what a client sent.
"""

import logging
from typing import Any, Final

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
from services.api.payloads.errors import FieldError, ValidationErrorOut
from services.api.rules import RulesUnavailableError

log = logging.getLogger(__name__)

RETRY_AFTER_S: Final = 5


def _retry_later(detail: str) -> JSONResponse:
    """A 503 that tells the client when to try again."""
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


def _invalid(errors: list[FieldError]) -> JSONResponse:
    """A 422 naming the first few fields and why."""
    summary = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3])
    body = ValidationErrorOut(detail=f"invalid request: {summary}", errors=errors)
    return JSONResponse(body.model_dump(), status_code=422)


def _field_error(error: dict[str, Any]) -> FieldError:
    """One of pydantic's errors, said as where (``body.message``) and why."""
    field = ".".join(str(part) for part in error.get("loc", ())) or "request"
    return FieldError(
        field=field, reason=str(error.get("msg", "invalid")).removeprefix("Value error, ")
    )


def _meant_member(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A body that fits no model of a union (a team or an admin token): the errors of the
    model with the fewest, the one the caller meant, located without the model's name."""
    members: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if len(loc) > 2 and loc[0] == "body" and str(loc[1])[:1].isupper():
            members.setdefault(str(loc[1]), []).append({**error, "loc": (loc[0], *loc[2:])})
    if len(members) < 2 or sum(map(len, members.values())) != len(errors):
        return errors
    return min(members.values(), key=len)


async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    return _invalid([_field_error(error) for error in _meant_member(list(exc.errors()))])


async def bad_action(_: Request, exc: BadActionError) -> JSONResponse:
    return _invalid([FieldError(field=exc.field, reason=exc.reason)])


async def not_found(_: Request, exc: TaskNotFoundError | NotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def not_open(_: Request, exc: TaskNotOpenError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "state": exc.state}, status_code=409)


async def stale(_: Request, exc: VersionConflictError) -> JSONResponse:
    body = {"detail": str(exc), "state": exc.state, "version": exc.version}
    return JSONResponse(body, status_code=409)


async def unauthenticated(_: Request, exc: NotAuthenticatedError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": str(exc)}, status_code=401, headers=headers)


async def forbidden(_: Request, exc: ScopeRequiredError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "required_scope": exc.scope}, status_code=403)


async def feedback_unavailable(_: Request, exc: FeedbackUnavailableError) -> JSONResponse:
    log.warning("resolve refused: %s", str(exc))  # a str: a record must not pin the error
    return _retry_later(f"{exc}; nothing was changed, retry later")


async def rules_unavailable(_: Request, exc: RulesUnavailableError) -> JSONResponse:
    log.warning("rules unavailable: %s", str(exc))
    return _retry_later(f"{exc}; retry later")


async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", str(exc))
    return _retry_later("the database is unavailable; retry later")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every domain error (and a database that is down) as the docstring above says."""
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(BadActionError)(bad_action)
    app.exception_handler(TaskNotFoundError)(not_found)
    app.exception_handler(NotFoundError)(not_found)
    app.exception_handler(TaskNotOpenError)(not_open)
    app.exception_handler(VersionConflictError)(stale)
    app.exception_handler(NotAuthenticatedError)(unauthenticated)
    app.exception_handler(ScopeRequiredError)(forbidden)
    app.exception_handler(FeedbackUnavailableError)(feedback_unavailable)
    app.exception_handler(RulesUnavailableError)(rules_unavailable)
    for unavailable in (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.exception_handler(unavailable)(database_unavailable)
