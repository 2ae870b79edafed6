"""Both deadlines and who answered, wherever a task shows (issue 16, items 11 and 13)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.unit.services.api.conftest import T0


def test_a_task_shows_its_acknowledge_and_resolve_deadlines(
    client: TestClient, add_task: Any
) -> None:
    task_id = add_task(
        "zd-1",
        acknowledge_by=T0 + timedelta(hours=1),
        resolve_by=T0 + timedelta(hours=8),
        sla_due=T0 + timedelta(hours=1),
    )
    detail = client.get(f"/v1/tasks/{task_id}").json()
    assert (detail["sla_due"], detail["acknowledge_by"], detail["resolve_by"]) == (
        "2025-03-03T10:00:00Z",
        "2025-03-03T10:00:00Z",
        "2025-03-03T17:00:00Z",
    )
    [queued] = client.get("/v1/teams/billing-ui/tasks").json()["tasks"]
    assert queued["resolve_by"] == "2025-03-03T17:00:00Z"
    [listed] = client.get("/v1/tasks").json()["tasks"]
    assert listed["resolve_by"] == "2025-03-03T17:00:00Z"


def test_who_answered_router_or_team(client: TestClient, add_task: Any) -> None:
    rush = add_task("sales-1", answered_at=T0 - timedelta(minutes=10), answer="OK: 12/10")
    asked = add_task("zd-2")
    assert client.get(f"/v1/tasks/{rush}").json()["answered_by"] == "router"
    assert client.get(f"/v1/tasks/{asked}").json()["answered_by"] is None
    client.post(f"/v1/tasks/{asked}/resolve", json={"message": "done"})
    assert client.get(f"/v1/tasks/{asked}").json()["answered_by"] == "team"


def test_the_asking_department_is_the_sources_not_the_teams(
    client: TestClient, add_task: Any
) -> None:
    task_id = add_task("zd-3", source="/sources/zendesk", department="engineering")
    assert client.get(f"/v1/tasks/{task_id}").json()["department"] == "support"
