"""The team queue's buttons: acknowledge, comment, resolve, reassign — the API's own endpoints.

A form's fields become the same request body the JSON API validates, and the
same route function runs it as the signed-in principal (its scope checked as
``Writer`` checks it), so a page can do exactly what its token can do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from services.api.auth import Principal
from services.api.deps import ApiContext, writer
from services.api.errors import (
    BadActionError,
    FeedbackUnavailableError,
    ScopeRequiredError,
    TaskNotOpenError,
    VersionConflictError,
)
from services.api.payloads.actions import (
    ActionRequest,
    CommentRequest,
    ReassignRequest,
    ResolveRequest,
)
from services.api.routes import tasks

Endpoint = Callable[..., Any]
ACTIONS: Final[dict[str, tuple[Endpoint, type[BaseModel]]]] = {
    "acknowledge": (tasks.acknowledge, ActionRequest),
    "comment": (tasks.comment, CommentRequest),
    "resolve": (tasks.resolve, ResolveRequest),
    "reassign": (tasks.reassign, ReassignRequest),
}
# what went wrong -> the catalogue key the page shows (the task not found stays a 404)
ERRORS: Final[tuple[tuple[type[Exception], str], ...]] = (
    (ScopeRequiredError, "error_scope"),
    (VersionConflictError, "error_version"),
    (TaskNotOpenError, "error_state"),
    (BadActionError, "error_input"),
    (ValidationError, "error_input"),
    (FeedbackUnavailableError, "error_unavailable"),
)


KNOWN: Final = tuple(kind for kind, _ in ERRORS)


def body_of(action: str, form: Mapping[str, str]) -> BaseModel:
    """The action's request body from the form's fields (a pydantic ValidationError if bad)."""
    model = ACTIONS[action][1]
    fields: dict[str, Any] = {
        k: v for k, v in form.items() if k in model.model_fields and k != "public" and v != ""
    }
    if "public" in model.model_fields:
        fields["public"] = form.get("public") == "on"
    return model.model_validate(fields)


def error_key(error: Exception) -> str | None:
    """The page's message for an error an action may meet; None: not one of those."""
    return next((key for kind, key in ERRORS if isinstance(error, kind)), None)


def run(
    api: ApiContext, principal: Principal, task_id: str, action: str, form: Mapping[str, str]
) -> None:
    """Do ``action`` as ``principal``; raises what the API endpoint raises."""
    endpoint = ACTIONS[action][0]
    endpoint(writer(principal), api, task_id, body_of(action, form))
