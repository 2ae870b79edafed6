"""An update of a task already routed (issue 16.2): what a ``task.routed`` that carries the
same ``task_id`` again changed, and why.

Kept apart from ``schemas.events`` (near its size limit) as a mixin of ``TaskRouted``.
The field is optional so that older events stay valid.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermChange(_Fields):
    """One term of a task that an update changed (times as ISO 8601)."""

    name: str = Field(description="priority, sla_policy, acknowledge_by or resolve_by")
    before: str | None
    after: str | None


class TaskUpdate(_Fields):
    """Why a ``task.routed`` updates a task already routed, and what it changed."""

    revision: int = Field(ge=1, description="The task's updates so far, this one included")
    cause: str = Field(description="priority_changed or request_joined")
    request_event_id: str = Field(description="The request whose terms changed the task's")
    changes: list[TermChange]


class RoutedUpdateFields(_Fields):
    """What a routed task adds when it is an update (mixed into ``TaskRouted``)."""

    update: TaskUpdate | None = Field(
        default=None,
        description="Set when this record updates a task already routed (the same task_id): "
        "what changed and why; a reader updates its item for the task rather than adding one",
    )
