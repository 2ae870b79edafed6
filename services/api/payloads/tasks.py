"""What the API says about tasks: one task, its detail (timeline, deliveries), pages of them."""

import json
from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.accounts_outcomes import OutcomeOut
from services.api.auth import Principal
from services.api.db import Task
from services.api.lifecycle import ACTIVE
from services.api.payloads.capacity import OrderOut


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TaskOut(_Out):
    task_id: str
    source_event_id: str
    source: str
    team: str
    rule: str = Field(description="Why this team: the routing rule that matched")
    account: str
    priority: str
    component: str | None
    subject: str
    description: str
    requester_email: str
    state: Literal[
        "open", "acknowledged", "in_progress", "resolved", "rejected", "reassigned", "reopened"
    ]
    department: str | None = Field(default=None, description="The department that asked")
    raised_at: datetime = Field(description="When the origin raised the request (UTC)")
    routed_at: datetime
    sla_due: datetime
    projected_at: datetime = Field(description="When the API stored the routed task")
    resolved_at: datetime | None
    resolution: str | None = Field(description="The answer sent back to the origin")
    feedback_latency_s: float | None = Field(
        description="From raised_at to the answer, in seconds; once the origin acknowledged "
        "the delivered answer (2xx), to that moment"
    )
    version: int = Field(description="Send it back as expected_version to change safely")
    updated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    feedback_delivered_at: datetime | None = Field(
        default=None, description="When the origin acknowledged the answer (2xx)"
    )
    event_count: int = Field(default=1, description="Source events grouped into this task")
    summary: str | None = Field(default=None, description="e.g. 14 requests from 3 accounts")
    acknowledge_by: datetime | None = Field(
        default=None, description="The acknowledge deadline (the SLA policy's), if it has one"
    )
    resolve_by: datetime | None = Field(
        default=None,
        description="The resolve deadline (the SLA policy's), if it has one; sla_due is the "
        "acknowledge deadline when there is one, else this",
    )
    answered_by: Literal["router", "team"] | None = Field(
        default=None,
        description="Who answered: the router itself (a feasible rush order) or the team; "
        "None while unanswered",
    )
    sla_state: Literal["ok", "breached", "met", "missed"] | None = Field(
        default=None, description="Active: ok or breached; closed: met or missed"
    )


def task_out(task: Task, now: datetime) -> TaskOut:
    out = TaskOut.model_validate(task)
    if task.answered_by is None and task.state == "resolved":
        out = out.model_copy(update={"answered_by": "team"})
    if task.state in ACTIVE:
        sla = "ok" if task.sla_due >= now else "breached"
    else:
        done = task.resolved_at or now
        sla = "met" if done <= task.sla_due else "missed"
    return out.model_copy(update={"sla_state": sla})


class TimelineEntry(_Out):
    seq: int
    event_id: str
    type: str = Field(examples=["task.acknowledged"])
    at: datetime
    actor: str
    from_state: str
    to_state: str
    team: str
    message: str | None


class AttemptOut(_Out):
    attempt: int
    at: datetime
    status_code: int | None
    latency_s: float
    error: str | None


class DeliveryOut(_Out):
    delivery_id: str = Field(description="The idempotency key the origin sees")
    event_id: str
    source: str
    task_state: str
    url: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    origin_event_id: str | None = Field(default=None, description="The request it answers")
    origin_ref: str | None = Field(default=None, description="Its id in the origin, e.g. ticket")
    log: list[AttemptOut] = []


class TrackerOut(_Out):
    """The task's issue in a team's tracker (``handoff tracker consume``)."""

    team: str
    kind: str = Field(description="The connector, e.g. jira-cloud, github, backlog")
    issue_key: str | None = Field(description="None: not created yet (or the tracker refused)")
    issue_url: str | None
    state: Literal["pending", "synced", "failed"] = Field(
        description="failed: the tracker kept refusing the last call (parked in handoff.dlq "
        "with the reason) and no call succeeded since"
    )
    last_error: str | None = Field(description="Why the tracker refused, as it answered")
    failed_at: datetime | None
    updated_at: datetime


class SourceEventOut(BaseModel):
    source_event_id: str
    source: str
    ref: str | None = Field(default=None, description="Its id in the origin, e.g. a ticket id")
    raised_at: datetime | None = None


def event_ids(task: Task) -> list[str]:
    """The grouped source events (the router keeps the recent ids), the first one first."""
    try:
        ids = json.loads(task.event_ids) if task.event_ids else []
    except ValueError:
        ids = []
    ids = [i for i in ids if isinstance(i, str)] or [task.source_event_id]
    return ids if task.source_event_id in ids else [task.source_event_id, *ids]


class ElsewhereOut(BaseModel):
    team: str
    state: str
    count: int


class RequesterUpdateOut(_Out):
    event_id: str
    origin_event_id: str = Field(description="The request it changed (see source_events)")
    source: str
    ref: str = Field(description="The request's id in its tool, e.g. the ticket id")
    change: Literal["comment", "priority", "status", "other"]
    comment: str | None
    public: bool | None = Field(description="A public reply (else an internal note), if known")
    priority: str | None
    previous_priority: str | None
    status: str | None
    previous_status: str | None
    requester_email: str
    at: datetime


class TaskDetail(TaskOut):
    source_events: list[SourceEventOut]
    timeline: list[TimelineEntry]
    related: list[TaskOut] = Field(description="Other tasks of the same account you may see")
    related_elsewhere: list[ElsewhereOut] = Field(
        description="Other teams' tasks of the same account, counted (not shown)"
    )
    deliveries: list[DeliveryOut]
    trackers: list[TrackerOut] = Field(
        default=[], description="The task's issue in each team tracker that received it"
    )
    requester_updates: list[RequesterUpdateOut] = Field(
        default=[],
        description="What the askers changed on their requests since (comments, priority), "
        "as their tools reported it; the last 200, oldest first",
    )
    order: OrderOut | None = Field(
        default=None,
        description="A rush order: the router's answer (units held, refused) or the planning "
        "work it opened (quantity, product, plant/line candidates, due date, shortfall per date)",
    )
    outcomes: list[OutcomeOut] = Field(
        default=[],
        description="Deal outcomes and lead changes routed into it (intent, stage, amount, "
        "loss reason and the rep's own words), oldest first",
    )


class TaskList(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: done")


class AccountOut(BaseModel):
    account: str
    tasks: list[TaskOut]
    elsewhere: list[ElsewhereOut]


class TaskPage(BaseModel):
    team: str
    count: int = Field(description="How many tasks match in total (all pages)")
    tasks: list[TaskOut]


def elsewhere(tasks: list[Task], principal: Principal) -> list[ElsewhereOut]:
    """Other teams' tasks among ``tasks``, counted by team and state (not shown)."""
    counts = Counter((t.team, t.state) for t in tasks if not principal.sees_team(t.team))
    return [ElsewhereOut(team=t, state=s, count=n) for (t, s), n in sorted(counts.items())]
