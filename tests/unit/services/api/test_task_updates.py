"""Issue 16.2 / 16.5 in the API: a task.routed that updates a stored task, or escalates it,
changes the row once and adds one timeline entry (SQLite; PostgreSQL in the integration test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from schemas.events import TASK_ROUTED, CloudEvent, TaskRouted, derived_id, envelope
from services.api.db import make_engine
from services.api.models import TASK_EVENTS, TASKS, Base
from services.api.projection import task_row
from services.api.projector_writes import store_task
from services.api.task_updates import ESCALATED, TERMS_UPDATED

T0 = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
TASK = derived_id("task", "zd-1")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def routed(event_id: str, minutes: int = 0, **data: Any) -> CloudEvent:
    fields: dict[str, Any] = {
        "task_id": TASK,
        "source_event_id": "zd-1",
        "source": "/sources/zendesk",
        "team": "billing",
        "rule": "/0/1",
        "account": "acme.example",
        "priority": "high",
        "component": "billing-ui",
        "subject": "請求書の画面が分かりにくい",
        "description": "",
        "requester_email": "taro@acme.example",
        "raised_at": T0,
        "routed_at": T0 + timedelta(minutes=minutes),
        "sla_due": T0 + timedelta(hours=4),
        "acknowledge_by": T0 + timedelta(hours=4),
    }
    fields.update(data)
    body = TaskRouted.model_validate(fields)
    return envelope(
        type_=TASK_ROUTED,
        source="handoff/router",
        data=body,
        time=body.routed_at,
        event_id=event_id,
    )


def update(revision: int, priority: str, ack_h: int, minutes: int) -> CloudEvent:
    ack = T0 + timedelta(hours=ack_h)
    change = {
        "revision": revision,
        "cause": "priority_changed",
        "request_event_id": "zd-1",
        "changes": [{"name": "priority", "before": "high", "after": priority}],
    }
    event_id = derived_id(TASK_ROUTED, TASK, "update", str(revision))
    return routed(
        event_id, minutes, priority=priority, sla_due=ack, acknowledge_by=ack, update=change
    )


def store(engine: sa.Engine, event: CloudEvent) -> str:
    with engine.begin() as conn:
        return store_task(conn, event, task_row(event, projected_at=event.time))


def task(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(TASKS).where(TASKS.c.task_id == TASK)).mappings().one())


def timeline(engine: sa.Engine) -> list[tuple[str, str, str | None]]:
    query = sa.select(TASK_EVENTS.c.type, TASK_EVENTS.c.team, TASK_EVENTS.c.message)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(TASK_EVENTS.c.seq))]


def test_an_update_changes_the_tasks_terms_once_with_a_timeline_entry(engine: sa.Engine) -> None:
    store(engine, routed("r0"))
    assert store(engine, update(1, "urgent", 1, 5)) == TERMS_UPDATED
    assert store(engine, update(1, "urgent", 1, 5)) != TERMS_UPDATED  # redelivered
    row = task(engine)
    assert (row["priority"], row["sla_due"], row["acknowledge_by"]) == (
        "urgent",
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1),
    )
    ((kind, team, message),) = timeline(engine)
    assert (kind, team) == ("task.updated", "billing")
    assert message is not None
    assert "priority high -> urgent" in message
    assert "優先度" in message


def test_an_older_update_after_a_newer_one_changes_nothing(engine: sa.Engine) -> None:
    store(engine, routed("r0"))
    store(engine, update(2, "normal", 24, 10))
    store(engine, update(1, "urgent", 1, 5))  # overtaken on another partition
    assert task(engine)["priority"] == "normal"
    assert len(timeline(engine)) == 1


def test_an_update_that_overtook_its_task_stores_the_task_with_it(engine: sa.Engine) -> None:
    assert store(engine, update(1, "urgent", 1, 5)) == "inserted"
    store(engine, routed("r0"))
    assert task(engine)["priority"] == "urgent"
    assert [kind for kind, _, _ in timeline(engine)] == ["task.updated"]


def test_an_escalation_moves_the_task_to_the_escalation_teams_queue(engine: sa.Engine) -> None:
    store(engine, routed("r0"))
    escalated = routed(
        "esc-1", 60, team="eng-oncall", escalated_from="billing", reason="SLA acknowledge breached"
    )
    assert store(engine, escalated) == ESCALATED
    assert store(engine, escalated) != ESCALATED
    assert task(engine)["team"] == "eng-oncall"
    ((kind, team, message),) = timeline(engine)
    assert (kind, team) == ("task.escalated", "eng-oncall")
    assert message is not None
    assert "billing" in message


def test_a_priority_change_moves_the_resolve_deadline_too(engine: sa.Engine) -> None:
    """The router's update carries every deadline of the new terms; resolve_by follows, so
    the SLA figures judge the resolution by the new terms, not the first ones."""
    store(engine, routed("r0", resolve_by=T0 + timedelta(hours=24)))
    urgent = update(1, "urgent", 1, 5)
    urgent = urgent.model_copy(
        update={"data": {**urgent.data, "resolve_by": "2026-11-24T04:00:00Z"}}
    )
    assert store(engine, urgent) == TERMS_UPDATED
    row = task(engine)
    assert row["resolve_by"] == T0 + timedelta(hours=4)
    assert row["acknowledge_by"] == T0 + timedelta(hours=1)
