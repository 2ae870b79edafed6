"""What an error answer looks like, and the error responses each kind of endpoint declares."""

from typing import Any, Final

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    detail: str


class ScopeErrorOut(ErrorOut):
    required_scope: str


class ConflictOut(ErrorOut):
    state: str = Field(description="The task's current state")
    version: int | None = None


class FieldError(BaseModel):
    field: str = Field(description="Where: path.*, query.* or body.*")
    reason: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldError]


INVALID_INPUT: Final[dict[int | str, dict[str, Any]]] = {422: {"model": ValidationErrorOut}}
AUTH_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorOut, "description": "No token or an unknown one"},
    403: {"model": ScopeErrorOut, "description": "The token lacks the scope"},
}
TASK_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    **AUTH_ERRORS,
    404: {"model": ErrorOut, "description": "No such task (or not your team's)"},
    **INVALID_INPUT,
}
CHANGE_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    **TASK_ERRORS,
    409: {"model": ConflictOut, "description": "Not allowed in the current state, or stale"},
    413: {"model": ErrorOut, "description": "Body over the size limit"},
    503: {"model": ErrorOut, "description": "The broker did not acknowledge; retry"},
}
