"""CloudEvents 1.0 (structured JSON) and the data each event type carries.

Event types: ``support.ticket`` (and ``support.ticket_updated``), ``sales.note`` and
``production.capacity`` (ingest -> router), ``task.routed`` (router -> api, team trackers),
``task.feedback`` (api or router -> origin tools), ``sla.at_risk`` /
``sla.breached`` (router -> ``handoff.sla``).
Every datetime on the wire is timezone-aware ISO 8601.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from schemas.cloudevents import HANDOFF_NS as HANDOFF_NS
from schemas.cloudevents import CloudEvent as CloudEvent
from schemas.cloudevents import derived_id as derived_id
from schemas.cloudevents import envelope as envelope
from schemas.email import EmailStr
from schemas.orders import LineProducts, OrderFields, RoutedOrderFields
from schemas.sales import RoutedOutcome, SalesNoteExtras
from schemas.task_updates import RoutedUpdateFields

SUPPORT_TICKET = "support.ticket"
SUPPORT_TICKET_UPDATED = "support.ticket_updated"
TASK_ROUTED = "task.routed"
TASK_FEEDBACK = "task.feedback"
SALES_NOTE = "sales.note"
PRODUCTION_CAPACITY = "production.capacity"
SLA_AT_RISK = "sla.at_risk"
SLA_BREACHED = "sla.breached"


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


_Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
_Domain = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=253)
]
CustomValue = Annotated[str, StringConstraints(max_length=2000)] | int | float | bool | None


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
    # Optional context a helpdesk adapter keeps (absent from the wire when not given).
    status: Text | None = Field(default=None, description="The helpdesk's status, e.g. open")
    organization: Text | None = Field(default=None, description="The customer's organization")
    crm_account_id: _Ref | None = Field(default=None, description="For identity resolution")
    company_id: _Ref | None = Field(default=None, description="For identity resolution")
    company_domains: list[_Domain] | None = Field(
        default=None,
        max_length=50,
        description="The organisation's e-mail domains (Zendesk's organization.domain_names): "
        "each is linked to company_id for identity resolution",
    )
    tags: list[Tag] | None = Field(default=None, max_length=100)
    custom_fields: dict[Tag, CustomValue] | None = Field(default=None, max_length=200)
    updated_at: AwareDatetime | None = None


class TicketChange(StrEnum):
    COMMENT = "comment"
    PRIORITY = "priority"
    STATUS = "status"
    OTHER = "other"


class TicketUpdated(_Model):
    """A change to a ticket already raised (``support.ticket_updated``): a comment, a priority.

    ``ticket_event_id`` is the id of the ``support.ticket`` event it belongs to.
    """

    ticket_id: _Ref
    ticket_event_id: _Ref
    requester_email: EmailStr
    change: TicketChange
    comment: LongText | None = None
    comment_public: bool | None = None
    priority: Priority | None = None
    previous_priority: Priority | None = None
    status: Text | None = None
    previous_status: Text | None = None
    crm_account_id: _Ref | None = None
    company_id: _Ref | None = None
    updated_at: AwareDatetime


class RelatedTask(_Model):
    """Another open task of the same account (account context)."""

    task_id: str
    team: str
    department: str | None = None
    state: str = "open"


class TaskRouted(_Model, RoutedOrderFields, RoutedOutcome, RoutedUpdateFields):
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
    # The routing engine's context (defaults keep older events and readers valid).
    route_id: str | None = Field(default=None, description="The route that matched, e.g. /0/1")
    rules_version: str | None = Field(default=None, description="The rule set that routed it")
    reason: str | None = Field(default=None, description="Why this team, in words")
    department: str | None = None
    sla_policy: str | None = None
    acknowledge_by: AwareDatetime | None = None
    resolve_by: AwareDatetime | None = None
    group_key: str | None = None
    event_count: int = Field(default=1, ge=1, description="Events grouped into this task")
    event_ids: list[str] = Field(default_factory=list, description="Their ids (recent ones)")
    accounts: list[str] = Field(default_factory=list)
    requesters: list[str] = Field(default_factory=list)
    summary: str | None = Field(default=None, description="e.g. 14 requests from 9 ...")
    related: list[RelatedTask] = Field(
        default_factory=list,
        description="The account's other open tasks, any department (the 20 most recent)",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="The route's labels")
    earliest_feasible: date | None = Field(
        default=None, description="Capacity check: the earliest date the order can be made"
    )
    escalated_from: str | None = Field(
        default=None, description="Set on an SLA escalation: the team that breached"
    )
    reassigned_from: str | None = Field(
        default=None, description="Set when a team handed the task over: the team that had it"
    )
    reopened_at: AwareDatetime | None = Field(
        default=None, description="Set when a closed task was reopened: its clocks restarted"
    )
    answered_at: AwareDatetime | None = Field(
        default=None,
        description="Set when the router answered the request itself (a rush order within "
        "capacity): the task is resolved with this answer",
    )
    answer: Text | None = Field(default=None, description="That answer")
    origin_event_id: str | None = Field(
        default=None,
        description="The request this record routes (a grouped task gets one record per request)",
    )
    origin_ref: str | None = Field(
        default=None,
        max_length=128,
        description="That request's id in the system that raised it, e.g. the Zendesk ticket id",
    )
    sla_started_at: AwareDatetime | None = Field(
        default=None,
        description="Set when the SLA clocks started later than raised_at: the request was "
        "raised long before handoff received it, so it is timed from its receipt",
    )


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


class SalesNote(_Model, OrderFields, SalesNoteExtras):
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
    rep_email: EmailStr | None = Field(default=None, description="The rep who asked (a request)")
    customer_email: EmailStr | None = None
    crm_account_id: Id | None = None
    company_id: Id | None = None
    lead_id: Id | None = None
    contact_id: Id | None = None
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


class ProductionCapacity(_Model, LineProducts):
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
