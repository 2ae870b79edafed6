"""The lifecycle: the transition table, the endpoints, the timeline, versions, lists, accounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.lifecycle import ACTIONS, department_of, target_state

# --- the table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        ("acknowledge", "open", "acknowledged"),
        ("acknowledge", "reassigned", "acknowledged"),
        ("acknowledge", "reopened", "acknowledged"),
        ("acknowledge", "acknowledged", None),
        ("acknowledge", "in_progress", None),
        ("acknowledge", "resolved", None),
        ("start", "open", "in_progress"),
        ("start", "acknowledged", "in_progress"),
        ("start", "in_progress", None),
        ("resolve", "open", "resolved"),
        ("resolve", "in_progress", "resolved"),
        ("resolve", "resolved", None),
        ("resolve", "rejected", None),
        ("reject", "acknowledged", "rejected"),
        ("reject", "rejected", None),
        ("reassign", "in_progress", "reassigned"),
        ("reassign", "resolved", None),
        ("reopen", "resolved", "reopened"),
        ("reopen", "rejected", "reopened"),
        ("reopen", "open", None),
        ("comment", "resolved", "resolved"),
        ("comment", "open", "open"),
    ],
)
def test_transition_table(action: str, state: str, expected: str | None) -> None:
    assert target_state(ACTIONS[action], state) == expected


@pytest.mark.parametrize(
    ("source", "department"),
    [
        ("/sources/support", "support"),
        ("/sources/sales", "sales"),
        ("/zendesk/acme", "zendesk"),
        ("", "unknown"),
        ("/", "unknown"),
    ],
)
def test_department_of_a_source(source: str, department: str) -> None:
    assert department_of(source) == department


# --- the endpoints --------------------------------------------------------------------------------


def post(client: TestClient, task_id: str, action: str, **body: Any) -> Any:
    return client.post(f"/v1/tasks/{task_id}/{action}", json=body)


def test_the_whole_lifecycle_makes_a_timeline_and_an_event_each(
    client: TestClient, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-1")
    clock.advance(60)
    acked = post(client, task_id, "acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_at"] == "2025-03-03T09:01:00Z"
    assert acked.json()["version"] == 2
    assert post(client, task_id, "comments", message="見ています").json()["version"] == 3
    assert post(client, task_id, "start").json()["state"] == "in_progress"
    clock.advance(60)
    resolved = post(client, task_id, "resolve", message="直しました", expected_version=4)
    assert resolved.status_code == 200, resolved.text
    assert post(client, task_id, "reopen", message="まだ壊れています").json()["state"] == "reopened"
    assert post(client, task_id, "reject", message="仕様です").json()["state"] == "rejected"

    types = [event.type for _, event in publisher.sent]
    assert types == [
        "task.acknowledged",
        "task.commented",
        "task.in_progress",
        "task.feedback",
        "task.resolved",
        "task.reopened",
        "task.rejected",
    ]
    assert len({event.id for _, event in publisher.sent}) == len(types)
    detail = client.get(f"/v1/tasks/{task_id}").json()
    timeline = detail["timeline"]
    assert [(e["type"], e["from_state"], e["to_state"]) for e in timeline] == [
        ("task.acknowledged", "open", "acknowledged"),
        ("task.commented", "acknowledged", "acknowledged"),
        ("task.in_progress", "acknowledged", "in_progress"),
        ("task.resolved", "in_progress", "resolved"),
        ("task.reopened", "resolved", "reopened"),
        ("task.rejected", "reopened", "rejected"),
    ]
    assert timeline[1]["message"] == "見ています"
    assert [e["seq"] for e in timeline] == [1, 2, 3, 4, 5, 6]
    assert detail["state"] == "rejected"
    assert detail["resolution"] == "仕様です"
    assert detail["source_events"][0]["source_event_id"] == "zd-1"


def test_an_invalid_transition_is_a_409_naming_the_current_state(
    client: TestClient, add_task: Any, publisher: Any
) -> None:
    task_id = add_task("zd-1")
    assert post(client, task_id, "start").status_code == 200
    response = post(client, task_id, "acknowledge")
    assert response.status_code == 409
    assert response.json()["state"] == "in_progress"
    assert "is in_progress" in response.json()["detail"]
    reopen = post(client, task_id, "reopen", message="x")
    assert reopen.status_code == 409
    assert "not resolved or rejected" in reopen.json()["detail"]
    assert len(publisher.sent) == 1


def test_a_stale_version_is_a_409_and_changes_nothing(
    client: TestClient, add_task: Any, publisher: Any
) -> None:
    task_id = add_task("zd-1")
    assert post(client, task_id, "acknowledge", expected_version=1).status_code == 200
    stale = post(client, task_id, "resolve", message="late", expected_version=1)
    assert stale.status_code == 409
    assert stale.json() | {"detail": ""} == {"detail": "", "state": "acknowledged", "version": 2}
    assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "acknowledged"
    assert len(publisher.sent) == 1


def test_reassign_moves_the_task_and_needs_another_team(
    client: TestClient, add_task: Any, publisher: Any
) -> None:
    task_id = add_task("zd-1")
    same = post(client, task_id, "reassign", team="billing-ui", message="x")
    assert same.status_code == 422
    assert same.json()["errors"][0]["field"] == "body.team"
    moved = post(client, task_id, "reassign", team="payments", message="カードの問題")
    assert moved.status_code == 200
    assert moved.json() | {"version": 0} == moved.json() | {
        "team": "payments",
        "state": "reassigned",
        "version": 0,
    }
    [(_, event)] = publisher.sent
    assert event.type == "task.reassigned"
    assert event.data["team"] == "payments"
    assert post(client, task_id, "acknowledge").json()["state"] == "acknowledged"


def test_messages_are_required_where_a_reason_is(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")
    for action in ("reject", "comments", "resolve"):
        response = post(client, task_id, action)
        assert response.status_code == 422
        assert "body.message" in response.json()["detail"]
    assert post(client, task_id, "reassign", message="x").status_code == 422


def test_a_broker_failure_on_a_transition_leaves_no_timeline(
    client: TestClient, add_task: Any, publisher: Any
) -> None:
    task_id = add_task("zd-1")
    publisher.down = True
    assert post(client, task_id, "acknowledge").status_code == 503
    detail = client.get(f"/v1/tasks/{task_id}").json()
    assert detail["state"] == "open"
    assert detail["timeline"] == []


def test_list_tasks_filters_and_pages_with_a_cursor(
    client: TestClient, add_task: Any, clock: Any
) -> None:
    ids = [add_task(f"zd-{n}", raised_at=clock.now - timedelta(minutes=50 - n)) for n in range(5)]
    sales = add_task("sales-1", source="/sources/sales", team="planning", account="other.example")
    clock.advance(1)
    post(client, ids[0], "acknowledge")

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"team": "billing-ui", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/tasks", params=params).json()
        seen += [t["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    def ids_for(**params: Any) -> list[str]:
        response = client.get("/v1/tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["task_id"] for t in response.json()["tasks"]]

    assert ids_for(state="acknowledged") == [ids[0]]
    assert len(ids_for(state="active")) == 6
    assert len(ids_for(department="sales")) == 1
    assert ids_for(account="other.example") == ids_for(department="sales")
    since = (clock.now - timedelta(minutes=47, seconds=1)).isoformat()
    assert ids_for(created_since=since, team="billing-ui") == ids[3:]
    assert ids_for(department="sales") == [sales]
    assert ids_for(updated_since=clock.now.isoformat()) == [ids[0]]
    assert ids_for(sla="breached") == []
    clock.advance(5 * 3600)
    assert len(ids_for(sla="breached")) == 6
    bad = client.get("/v1/tasks", params={"cursor": "!!not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"


def test_the_account_view_and_related_tasks(client: TestClient, add_task: Any) -> None:
    a = add_task("zd-1")
    b = add_task("zd-2", team="shipping", source="/sources/sales")
    add_task("zd-3", account="someone.else")
    view = client.get("/v1/accounts/example.co.jp").json()
    assert {t["task_id"] for t in view["tasks"]} == {a, b}
    assert view["elsewhere"] == []
    related = client.get(f"/v1/tasks/{a}").json()["related"]
    assert [t["task_id"] for t in related] == [b]


def test_teams_show_backlog_and_sla_standing(client: TestClient, add_task: Any, clock: Any) -> None:
    add_task("zd-1")
    add_task("zd-2", sla_due=clock.now - timedelta(minutes=1))
    [team] = client.get("/v1/teams").json()["teams"]
    assert team["backlog"] == 2
    assert team["sla_breached"] == 1
    assert team["oldest_open_raised_at"] == "2025-03-03T08:50:00Z"


def test_figures_and_who_waits(client: TestClient, add_task: Any, clock: Any) -> None:
    a = add_task("zd-1", source="/sources/support")
    add_task("zd-2", source="/sources/support")
    clock.advance(60)
    post(client, a, "acknowledge")
    clock.advance(60)
    post(client, a, "resolve", message="done")
    [group] = client.get("/v1/stats/figures").json()["groups"]
    assert (group["department"], group["team"], group["tasks"]) == ("support", "billing-ui", 2)
    assert group["time_to_acknowledge"]["count"] == 1
    assert group["time_to_acknowledge"]["p50_s"] == 660.0
    assert group["time_to_resolve"]["max_s"] == 720.0
    assert group["feedback_latency"]["count"] == 1
    assert group["time_to_route"]["p50_s"] == 60.0
    assert group["resolved_in_time"] == 1.0  # only the closed one is due yet
    pairs = client.get("/v1/stats/who-waits").json()["pairs"]
    assert pairs == [
        {
            "department": "support",
            "team": "billing-ui",
            "open": 1,
            "median_feedback_latency_s": 720.0,
            "open_requests": 1,
            "p90_feedback_latency_s": 720.0,
            "answered": 1,
            "router_answered": 0,
            "router_median_feedback_latency_s": None,
        }
    ]


def test_transitions_are_counted_in_metrics(
    client: TestClient, add_task: Any, registry: Any
) -> None:
    task_id = add_task("zd-1", source="/sources/support")
    post(client, task_id, "acknowledge")
    assert (
        registry.get_sample_value(
            "handoff_api_task_transitions_total",
            {"type": "task.acknowledged", "team": "billing-ui"},
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "handoff_api_time_to_acknowledge_seconds_count",
            {"team": "billing-ui", "department": "support"},
        )
        == 1
    )
