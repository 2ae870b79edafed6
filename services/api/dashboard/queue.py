"""A team's queue, one task, one account: the API's own reads, arranged for a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from services.api.auth import Principal
from services.api.deps import ApiContext
from services.api.lifecycle import CLOSED
from services.api.payloads.tasks import DeliveryOut, SourceEventOut, TaskDetail, TaskOut
from services.api.routes import tasks

AT_RISK: Final = timedelta(hours=1)  # as the handoff_api_open_tasks gauge's at_risk


def standing(task: TaskOut, now: datetime) -> str:
    """``breached``, ``at_risk`` (due within the hour), ``ok``, or the closed task's met/missed."""
    if task.sla_state == "ok" and task.sla_due < now + AT_RISK:
        return "at_risk"
    return task.sla_state or "ok"


def team_queue(api: ApiContext, principal: Principal, team: str) -> list[TaskOut]:
    """The team's active tasks, nearest deadline first (another team's: a 404, as in /v1)."""
    found = tasks.list_tasks(
        principal,
        api,
        team=team,
        state="active",
        sla=None,
        account=None,
        department=None,
        created_since=None,
        updated_since=None,
        limit=api.page_max,
        cursor=None,
    ).tasks
    return sorted(found, key=lambda t: (t.sla_due, t.task_id))


def accounts_in(queue: list[TaskOut]) -> int:
    return len({t.account for t in queue})


def requests_in(queue: list[TaskOut]) -> int:
    return sum(t.event_count for t in queue)


@dataclass(frozen=True)
class Origin:
    """One request grouped into the task, with the answer's way back to it."""

    request: SourceEventOut
    delivery: DeliveryOut | None
    answered: bool = False  # the task is closed: its answer went out on handoff.feedback

    @property
    def state(self) -> str:
        """delivered / retrying / parked; without a callback to its origin: published (the
        answer is on ``handoff.feedback``) or waiting (no answer yet)."""
        if self.delivery is None:
            return "published" if self.answered else "waiting"
        return {"delivered": "delivered", "dead": "parked"}.get(self.delivery.state, "retrying")

    @property
    def latency_s(self) -> float | None:
        """Raised -> the origin took the answer (2xx)."""
        if self.delivery is None or self.delivery.delivered_at is None:
            return None
        if self.request.raised_at is None:
            return None
        return max(0.0, (self.delivery.delivered_at - self.request.raised_at).total_seconds())


def origins(detail: TaskDetail) -> list[Origin]:
    """Each request with the newest delivery that answers it (by the request's event id)."""
    answers = [d for d in detail.deliveries if not d.source.startswith("team:")]
    newest: dict[str, DeliveryOut] = {}
    for delivery in sorted(answers, key=lambda d: d.created_at):
        newest[delivery.origin_event_id or delivery.event_id] = delivery
    single = answers[-1] if len(detail.source_events) == 1 and answers else None
    closed = detail.state in CLOSED
    return [
        Origin(event, newest.get(event.source_event_id, single), closed)
        for event in detail.source_events
    ]


def task_detail(api: ApiContext, principal: Principal, task_id: str) -> TaskDetail:
    """What ``GET /v1/tasks/{id}`` answers this principal (another team's task: 404)."""
    return tasks.get_task(principal, api, task_id)
