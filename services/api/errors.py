"""The API's own errors; ``app.py`` turns each into its HTTP answer."""

from __future__ import annotations

from services.core.errors import HandoffError


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


class InvalidEventError(HandoffError):
    """A consumed message that can never be projected; it goes to the dead-letter topic."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
