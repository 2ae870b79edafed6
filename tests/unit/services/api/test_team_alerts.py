"""SLA signals owed to the teams' webhooks: who hears what, once, in which shape."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from schemas.events import SLA_AT_RISK, SLA_BREACHED, CloudEvent, SlaSignal, envelope
from services.api.db import Callback, Delivery
from services.api.errors import InvalidEventError
from services.api.team_alerts import TaskNotProjectedError, schedule_team_alerts, team_target
from tests.unit.services.api.conftest import T0, AddTask


def signal_event(type_: str, task_id: str, escalate_to: str | None = "eng-oncall") -> CloudEvent:
    data = SlaSignal(
        task_id=task_id,
        team="billing-ui",
        clock="acknowledge",
        due=T0 + timedelta(hours=1),
        escalate_to=escalate_to if type_ == SLA_BREACHED else None,
    )
    return envelope(
        type_=type_, source="/handoff/router", data=data, time=T0, event_id=f"{type_}-{task_id}"
    )


def register(engine: sa.Engine, team: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Callback).values(
                source=team_target(team),
                url=f"http://127.0.0.1:9/hooks/{team}",
                secret="team-secret-team-secret",
                format="generic",
                created_at=T0,
            )
        )


def owed(engine: sa.Engine) -> list[tuple[str, str, dict[str, object]]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Delivery.source, Delivery.task_state, Delivery.body))
        return sorted((source, state, json.loads(body)) for source, state, body in rows)


def schedule(engine: sa.Engine, event: CloudEvent) -> list[str]:
    with engine.begin() as conn:
        return schedule_team_alerts(conn, event, T0)


@pytest.mark.parametrize(
    ("type_", "registered", "expected"),
    [
        (SLA_AT_RISK, ["billing-ui", "eng-oncall"], [("team:billing-ui", "at_risk", "owner")]),
        (
            SLA_BREACHED,
            ["billing-ui", "eng-oncall"],
            [
                ("team:billing-ui", "breached", "owner"),
                ("team:eng-oncall", "breached", "escalation"),
            ],
        ),
        (SLA_BREACHED, ["eng-oncall"], [("team:eng-oncall", "breached", "escalation")]),
        (SLA_BREACHED, [], []),
    ],
)
def test_each_team_with_a_webhook_is_owed_the_signal(
    engine: sa.Engine,
    add_task: AddTask,
    type_: str,
    registered: list[str],
    expected: list[tuple[str, str, str]],
) -> None:
    task_id = add_task("zendesk-7")
    for team in registered:
        register(engine, team)

    scheduled = schedule(engine, signal_event(type_, task_id))

    assert [(s, state, body["role"]) for s, state, body in owed(engine)] == expected
    assert len(scheduled) == len(expected)


def test_the_body_names_the_task_the_clock_and_the_deadline(
    engine: sa.Engine, add_task: AddTask
) -> None:
    task_id = add_task("zendesk-8")
    register(engine, "billing-ui")

    schedule(engine, signal_event(SLA_AT_RISK, task_id))

    [(_, _, body)] = owed(engine)
    assert body["event"] == SLA_AT_RISK
    assert body["task_id"] == task_id
    assert body["team"] == body["owner_team"] == "billing-ui"
    assert body["clock"] == "acknowledge"
    assert body["due"] == (T0 + timedelta(hours=1)).isoformat()
    assert body["subject"] == "請求書の画面が分かりにくい"


def test_a_replayed_signal_owes_nothing_more(engine: sa.Engine, add_task: AddTask) -> None:
    task_id = add_task("zendesk-9")
    register(engine, "billing-ui")
    event = signal_event(SLA_AT_RISK, task_id)

    first = schedule(engine, event)
    again = schedule(engine, event)

    assert len(first) == 1
    assert again == []
    assert len(owed(engine)) == 1


def test_a_signal_for_a_task_not_yet_projected_asks_to_wait(engine: sa.Engine) -> None:
    register(engine, "billing-ui")

    with pytest.raises(TaskNotProjectedError, match="task-not-here"):
        schedule(engine, signal_event(SLA_AT_RISK, "task-not-here"))
    assert owed(engine) == []


def test_a_signal_without_its_fields_is_refused_for_the_dead_letter_topic(
    engine: sa.Engine,
) -> None:
    event = signal_event(SLA_AT_RISK, "t").model_copy(update={"data": {"task_id": "t"}})

    with pytest.raises(InvalidEventError) as refused:
        schedule(engine, event)
    assert refused.value.error_type == "InvalidSlaSignal"
