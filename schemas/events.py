"""CloudEvents 1.0 (structured JSON) and the data each event type carries.

Event types: ``support.ticket`` (ingest -> router), ``task.routed``
(router -> api, team trackers), ``task.feedback`` (api -> origin tools).
Every datetime on the wire is timezone-aware ISO 8601.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

SUPPORT_TICKET = "support.ticket"
TASK_ROUTED = "task.routed"
TASK_FEEDBACK = "task.feedback"

# uuid5 namespace for ids derived from other ids: same input, same id, forever.
HANDOFF_NS = uuid.UUID("6f1c1d2e-5b7a-4c8e-9a43-3f0e2b9d7c11")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"
    ),
]


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Component = Annotated[Name, BeforeValidator(_lower)]


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupportTicket(_Model):
    """A ticket as a support tool raises it (``POST /v1/sources/support/tickets``)."""

    ticket_id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
        | None
    ) = Field(
        default=None,
        description="The helpdesk's own id. Given, it makes the event id deterministic, "
        "so a retried webhook is one task.",
    )
    subject: Text
    description: LongText = ""
    requester_email: EmailStr
    priority: Priority = Priority.NORMAL
    component: Component | None = Field(
        default=None, description="Product component, e.g. billing-ui"
    )
    created_at: AwareDatetime | None = Field(
        default=None,
        description="When the customer raised it; defaults to the time ingest received it.",
    )


class TaskRouted(_Model):
    """A ticket matched to its owning team with an SLA deadline."""

    task_id: str
    source_event_id: str
    source: str
    team: str
    rule: str = Field(description="Why this team: the rule that matched, e.g. component:billing-ui")
    account: str
    priority: Priority
    component: str | None
    subject: str
    description: str
    requester_email: str
    raised_at: AwareDatetime
    routed_at: AwareDatetime
    sla_due: AwareDatetime


class TaskFeedback(_Model):
    """The answer to a task, on its way back to whoever asked."""

    task_id: str
    source_event_id: str
    source: str
    team: str
    status: Literal["resolved"] = "resolved"
    message: LongText
    raised_at: AwareDatetime
    answered_at: AwareDatetime


class CloudEvent(_Model):
    """CloudEvents 1.0 structured-mode envelope; ``data`` is one of the models above."""

    model_config = ConfigDict(extra="allow", frozen=True)  # CloudEvents extension attributes

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def derived_id(*parts: str) -> str:
    """A deterministic id from other ids (uuid5 under handoff's namespace)."""
    return str(uuid.uuid5(HANDOFF_NS, "/".join(parts)))


def envelope(
    *,
    type_: str,
    source: str,
    data: BaseModel,
    time: datetime,
    event_id: str,
    subject: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source=source,
        type=type_,
        time=time,
        subject=subject,
        data=data.model_dump(mode="json"),
    )
