"""The API's own errors; ``handlers.py`` turns each into its HTTP answer."""

from __future__ import annotations

from services.core.errors import HandoffError, InvalidMessageError


class TaskNotFoundError(HandoffError):
    """No task has this id (HTTP 404)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id!r} not found")
        self.task_id = task_id


class TaskNotOpenError(HandoffError):
    """The task cannot be resolved in its current state (HTTP 409)."""

    def __init__(self, task_id: str, state: str) -> None:
        super().__init__(f"task {task_id!r} is {state}, not open")
        self.task_id = task_id
        self.state = state


class FeedbackUnavailableError(HandoffError):
    """The broker did not acknowledge the feedback event (HTTP 503, retry later)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"feedback could not be published: {reason}")
        self.reason = reason


class InvalidEventError(InvalidMessageError):
    """A consumed message that can never be projected; it goes to the dead-letter topic."""


class InvalidTransitionError(TaskNotOpenError):
    """The action is not allowed in the task's current state (HTTP 409 naming the state)."""

    def __init__(self, task_id: str, state: str, action: str, allowed: list[str]) -> None:
        HandoffError.__init__(
            self, f"task {task_id!r} is {state}, not {' or '.join(allowed)}: cannot {action} it"
        )
        self.task_id = task_id
        self.state = state
        self.action = action


class VersionConflictError(HandoffError):
    """The caller's expected version is stale: someone changed the task first (HTTP 409)."""

    def __init__(self, task_id: str, state: str, version: int, expected: int) -> None:
        super().__init__(
            f"task {task_id!r} is at version {version}, not {expected} (it is {state}); "
            "reload it and retry"
        )
        self.task_id = task_id
        self.state = state
        self.version = version


class BadActionError(HandoffError):
    """The action's input does not fit the task (HTTP 422 naming the field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotAuthenticatedError(HandoffError):
    """No token or an unknown one (HTTP 401)."""


class ScopeRequiredError(HandoffError):
    """The token lacks the scope this endpoint needs (HTTP 403 naming it)."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this needs a token with the {scope!r} scope")
        self.scope = scope


class NotFoundError(HandoffError):
    """A named thing (token, callback) does not exist (HTTP 404)."""
