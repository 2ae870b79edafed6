"""``GET /v1/teams/{team}/tasks?state=active``: every task still to be answered.

"active" is a filter over the states in ``services.api.lifecycle.ACTIVE`` (open,
acknowledged, in_progress, reassigned, reopened), not a state of its own: it used to be
compared as one, so the list was always empty.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient


def ids(client: TestClient, state: str) -> list[str]:
    body = client.get("/v1/teams/billing-ui/tasks", params={"state": state}).json()
    assert body["count"] == len(body["tasks"])
    return [t["task_id"] for t in body["tasks"]]


def act(client: TestClient, task_id: str, action: str) -> None:
    response = client.post(f"/v1/tasks/{task_id}/{action}", json={"message": "対応 / done"})
    assert response.status_code == 200, response.text


def test_active_lists_every_task_not_closed(client: TestClient, add_task: Any, clock: Any) -> None:
    tasks = [add_task(f"zd-{i}", raised_at=clock.now - timedelta(minutes=50 - i)) for i in range(5)]
    add_task("zd-shipping", team="shipping")  # another team's: never listed
    act(client, tasks[1], "acknowledge")
    act(client, tasks[2], "start")
    act(client, tasks[3], "resolve")
    act(client, tasks[4], "resolve")
    act(client, tasks[4], "reopen")
    assert ids(client, "active") == [tasks[0], tasks[1], tasks[2], tasks[4]]
    assert ids(client, "resolved") == [tasks[3]]
    assert ids(client, "reopened") == [tasks[4]]


def test_active_is_empty_once_everything_is_closed(
    client: TestClient, add_task: Any, clock: Any
) -> None:
    task = add_task("zd-1")
    assert ids(client, "active") == [task]
    act(client, task, "reject")
    assert ids(client, "active") == []
