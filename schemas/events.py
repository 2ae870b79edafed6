"""CloudEvents 1.0 (structured JSON) and the data each event type carries.

Event types: ``support.ticket``, ``sales.note`` and ``production.capacity``
(ingest -> router), ``task.routed`` (router -> api, team trackers),
``task.feedback`` (api or router -> origin tools), ``sla.at_risk`` /
``sla.breached`` (router -> ``handoff.sla``).
Every datetime on the wire is timezone-aware ISO 8601.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
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
    model_validator,
)

SUPPORT_TICKET = "support.ticket"
TASK_ROUTED = "task.routed"
TASK_FEEDBACK = "task.feedback"
SALES_NOTE = "sales.note"
PRODUCTION_CAPACITY = "production.capacity"
SLA_AT_RISK = "sla.at_risk"
SLA_BREACHED = "sla.breached"

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


class TaskState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    REOPENED = "reopened"


# Every change of a task travels on handoff.feedback as one of these types.
# task.feedback is the answer itself (what goes back to the asker); the router's
# SLA clocks stop on task.acknowledged (acknowledge clock) and on a resolved or
# rejected task (both clocks).
TASK_ACKNOWLEDGED = "task.acknowledged"
TASK_IN_PROGRESS = "task.in_progress"
TASK_RESOLVED = "task.resolved"
TASK_REJECTED = "task.rejected"
TASK_REASSIGNED = "task.reassigned"
TASK_REOPENED = "task.reopened"
TASK_COMMENTED = "task.commented"
STOPS_ACKNOWLEDGE_CLOCK = frozenset({TASK_ACKNOWLEDGED, TASK_IN_PROGRESS})
STOPS_ALL_CLOCKS = frozenset({TASK_RESOLVED, TASK_REJECTED, TASK_FEEDBACK})


class TaskFeedback(_Model):
    """The answer to a task (or a change of its state), on its way back to whoever asked."""

    task_id: str
    source_event_id: str
    source: str
    team: str
    status: TaskState = TaskState.RESOLVED
    message: LongText
    raised_at: AwareDatetime
    answered_at: AwareDatetime


class SalesIntent(StrEnum):
    RUSH_ORDER = "rush_order"
    QUOTE_REQUEST = "quote_request"
    FEATURE_REQUEST = "feature_request"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"
    LEAD_STATUS_CHANGED = "lead_status_changed"


class LeadStatus(StrEnum):
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    WON = "won"
    LOST = "lost"


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class SalesNote(_Model):
    """A note from sales: a rush order, a quote, a feature ask, a deal outcome, a lead change.

    The CRM's ids are kept for identity resolution (``crm_account_id`` first,
    then ``company_id``, then the customer's e-mail domain).
    """

    note_id: Id | None = Field(
        default=None, description="The CRM's id; makes the event id deterministic."
    )
    intent: SalesIntent
    subject: Text
    body: LongText = ""
    rep_email: EmailStr = Field(description="The sales rep who asked, who gets the answer.")
    customer_email: EmailStr | None = None
    crm_account_id: Id | None = None
    company_id: Id | None = None
    lead_id: Id | None = None
    contact_id: Id | None = None
    product_line: Name | None = None
    quantity: int | None = Field(default=None, gt=0, le=10_000_000)
    due_date: date | None = None
    amount: float | None = Field(default=None, ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    loss_reason: Name | None = Field(default=None, description="From the agreed taxonomy.")
    lead_status: LeadStatus | None = None
    created_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _intent_fields(self) -> SalesNote:
        needed = {
            SalesIntent.RUSH_ORDER: ("product_line", "quantity", "due_date"),
            SalesIntent.DEAL_LOST: ("loss_reason",),
            SalesIntent.LEAD_STATUS_CHANGED: ("lead_status",),
        }.get(self.intent, ())
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"intent {self.intent.value} needs {', '.join(missing)}")
        if not (self.crm_account_id or self.company_id or self.customer_email):
            raise ValueError("one of crm_account_id, company_id, customer_email is needed")
        return self


class CapacityDay(_Model):
    date: date
    units: int = Field(ge=0, le=1_000_000_000)


class ProductionCapacity(_Model):
    """Free units per date for one production line, as of a moment."""

    plant: Id
    line: Name
    product_family: Name | None = None
    as_of: AwareDatetime
    free: list[CapacityDay] = Field(min_length=1, max_length=3660)
    net_of: list[Id] = Field(
        default_factory=list, description="Hold ids these figures already account for."
    )


class SlaSignal(_Model):
    """A task's SLA clock reached its warning point or its deadline."""

    task_id: str
    team: str
    clock: Literal["acknowledge", "resolve"]
    due: AwareDatetime
    escalate_to: str | None = None


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
