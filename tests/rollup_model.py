"""A task driven through the projector and the lifecycle, for the rollups' consistency tests.

Every step goes the way production goes: ``task.routed`` events through the
projector's own write (``Projector.handle`` wraps ``store_task`` in ``tallied``),
lifecycle actions through ``change_task``. ``compare`` then checks the incremental
rollups against ``rebuild`` (what ``handoff stats rebuild`` runs), read in a
transaction that is rolled back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from schemas.events import TASK_ROUTED, CloudEvent, TaskRouted, derived_id, envelope
from services.api.clock import Clock
from services.api.errors import BadActionError, InvalidTransitionError, TaskNotFoundError
from services.api.feedback import Change, change_task
from services.api.models import ROLLUPS
from services.api.projection import task_row
from services.api.projector_writes import store_task
from services.api.rollups import rebuild, tallied

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TEAMS = ("billing", "eng-oncall", "sales-ops")
Rows = dict[tuple[Any, ...], int]


class Publisher:
    """Takes every lifecycle event (the broker is not what these tests are about)."""

    def publish(self, event: CloudEvent, *, key: str) -> None:
        del event, key


@dataclass
class Story:
    """One task's life; ``minutes`` moves on with every step, ``sent`` keeps the events."""

    engine: sa.Engine
    name: str = "zd-1"
    minutes: int = 0
    requests: int = 1
    revision: int = 0
    team: str = "billing"
    sent: list[CloudEvent] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        return derived_id("task", self.name)

    def clock(self) -> Clock:
        return lambda: T0 + timedelta(minutes=self.minutes)

    def event(self, event_id: str, **data: Any) -> CloudEvent:
        self.minutes += 1
        origin = f"{self.name}-r{self.requests}"
        fields: dict[str, Any] = {
            "task_id": self.task_id, "source_event_id": self.name, "source": "/sources/support",
            "team": self.team, "rule": "/0/1", "account": "acme.example", "priority": "high",
            "component": "billing-ui", "subject": "請求書の画面", "description": "",
            "requester_email": "taro@acme.example", "raised_at": T0,
            "routed_at": T0 + timedelta(minutes=self.minutes),
            "sla_due": T0 + timedelta(hours=4), "acknowledge_by": T0 + timedelta(hours=4),
            "event_count": self.requests, "origin_event_id": origin,
            "event_ids": [f"{self.name}-r{i}" for i in range(1, self.requests + 1)],
        }  # fmt: skip
        fields.update(data)
        body = TaskRouted.model_validate(fields)
        return envelope(
            type_=TASK_ROUTED, source="handoff/router", data=body, time=body.routed_at,
            event_id=event_id,
        )  # fmt: skip

    def project(self, event: CloudEvent) -> str:
        """As ``Projector.handle`` writes a ``task.routed``: in one transaction, tallied."""
        self.sent.append(event)
        row = task_row(event, projected_at=event.time)
        with self.engine.begin() as conn:
            return tallied(conn, [row["task_id"]], lambda: store_task(conn, event, row))

    def route(self) -> str:
        return self.project(self.event(f"{self.name}-routed"))

    def join(self) -> str:
        """Another request grouped into the task (the router sends the larger group)."""
        self.requests += 1
        return self.project(self.event(f"{self.name}-join-{self.requests}"))

    def reprioritize(self, priority: str, hours: int, joined: bool = False) -> str:
        self.revision += 1
        due = T0 + timedelta(hours=hours)
        cause = "request_joined" if joined else "priority_changed"
        change = {
            "revision": self.revision, "cause": cause, "request_event_id": self.name,
            "changes": [{"name": "priority", "before": "high", "after": priority}],
        }  # fmt: skip
        event_id = derived_id(TASK_ROUTED, self.task_id, "update", str(self.revision))
        return self.project(
            self.event(event_id, priority=priority, sla_due=due, acknowledge_by=due,
                       resolve_by=due + timedelta(hours=4), update=change)
        )  # fmt: skip

    def escalate(self) -> str:
        breached, self.team = self.team, "eng-oncall"
        event_id = f"{self.name}-esc-{self.minutes}"
        return self.project(self.event(event_id, escalated_from=breached, reason="SLA breached"))

    def reroute(self) -> str:
        """The router's ``task.routed`` after a handover or a reopen: deadlines from then."""
        due = T0 + timedelta(minutes=self.minutes, hours=2)
        kind = {"reassigned_from": "billing"} if self.team != "billing" else {}
        reopened = {} if kind else {"reopened_at": T0 + timedelta(minutes=self.minutes)}
        event_id = f"{self.name}-reroute-{self.minutes}"
        return self.project(
            self.event(event_id, sla_due=due, acknowledge_by=due, **kind, **reopened)
        )

    def replay(self) -> str:
        """The last ``task.routed`` delivered again (an at-least-once redelivery)."""
        return self.project(self.sent[-1]) if self.sent else "nothing"

    def reassign(self) -> str:
        return self.act("reassign", to_team=next(t for t in TEAMS if t != self.team))

    def act(self, action: str, to_team: str | None = None) -> str:
        """A lifecycle action through the API's own write; a refused one changes nothing."""
        self.minutes += 1
        change = Change(action=action, message="対応しました / done", to_team=to_team)
        try:
            task = change_task(
                self.engine, self.task_id, change, publisher=Publisher(), clock=self.clock()
            )
        except (InvalidTransitionError, BadActionError, TaskNotFoundError):
            return "refused"
        self.team = task.team
        return task.state


def race_resolve(story: Story) -> str:
    """The projector writes an update while the API resolves the same task.

    The resolve runs on its own connection once the projector has taken its "before";
    the projector waits a little for it (it finishes at once unless the task is held),
    then writes and commits; the resolve then goes on, if it was waiting.
    """
    event = story.event("race-update", priority="urgent", update=_change(story))
    row = task_row(event, projected_at=event.time)
    resolved: list[str] = []
    resolver = threading.Thread(target=lambda: resolved.append(story.act("resolve")))

    def write() -> str:
        resolver.start()
        resolver.join(timeout=1.0)
        return store_task(conn, event, row)

    with story.engine.begin() as conn:
        tallied(conn, [row["task_id"]], write)
    resolver.join(timeout=30)
    return resolved[0]


def _change(story: Story) -> dict[str, object]:
    story.revision += 1
    return {
        "revision": story.revision,
        "cause": "priority_changed",
        "request_event_id": story.name,
        "changes": [{"name": "priority", "before": "high", "after": "urgent"}],
    }


def rollup_rows(conn: sa.Connection) -> Rows:
    """Every rollup row but the version, without the empty ones (zero: as good as absent)."""
    r = ROLLUPS.c
    query = sa.select(r.grain, r.bucket, r.measure, r.department, r.team, r.answered_by, r.n)
    rows = conn.execute(query.where(r.measure != "version")).all()
    return {tuple(row[:6]): int(row.n) for row in rows if row.n}


def compare(engine: sa.Engine) -> tuple[Rows, Rows]:
    """The incremental rollups, and what a rebuild makes of the same task rows."""
    with engine.connect() as conn:  # one transaction, rolled back: the rollups stay as kept
        incremental = rollup_rows(conn)
        rebuild(conn)
        rebuilt = rollup_rows(conn)
        conn.rollback()
    return incremental, rebuilt


def negative(rows: Rows) -> Rows:
    return {key: n for key, n in rows.items() if n < 0}
