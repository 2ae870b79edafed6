from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from schemas.events import derived_id
from services.api.app import create_app
from services.api.settings import ApiSettings


def errors_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert body["detail"].startswith("invalid request: ")
    return {e["field"]: e["reason"] for e in body["errors"]}


# --- a team's tasks ----------------------------------------------------------------------------


@pytest.fixture
def three_tasks(add_task: Any, clock: Any) -> list[str]:
    """Three billing-ui tasks raised 30, 20 and 10 minutes before now (stored out of order)."""
    late = add_task("zd-late", raised_at=clock.now - timedelta(minutes=10))
    early = add_task("zd-early", raised_at=clock.now - timedelta(minutes=30))
    mid = add_task("zd-mid", raised_at=clock.now - timedelta(minutes=20))
    add_task("zd-other-team", team="shipping")
    return [early, mid, late]


def test_team_tasks_are_oldest_first_with_the_total(
    client: TestClient, three_tasks: list[str]
) -> None:
    response = client.get("/v1/teams/billing-ui/tasks")
    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "billing-ui"
    assert body["count"] == 3
    assert [t["task_id"] for t in body["tasks"]] == three_tasks
    first = body["tasks"][0]
    assert first["subject"] == "請求書の画面が分かりにくい"
    assert first["state"] == "open"
    assert first["raised_at"] == "2025-03-03T08:30:00Z"


def test_team_tasks_page_with_limit_and_offset(client: TestClient, three_tasks: list[str]) -> None:
    body = client.get("/v1/teams/billing-ui/tasks", params={"limit": 1, "offset": 1}).json()
    assert body["count"] == 3
    assert [t["task_id"] for t in body["tasks"]] == three_tasks[1:2]
    beyond = client.get("/v1/teams/billing-ui/tasks", params={"offset": 10}).json()
    assert beyond == {"team": "billing-ui", "count": 3, "tasks": []}


def test_team_tasks_filter_by_state(client: TestClient, three_tasks: list[str]) -> None:
    resolved = client.post(f"/v1/tasks/{three_tasks[1]}/resolve", json={"message": "ok"})
    assert resolved.status_code == 200

    def ids(state: str) -> list[str]:
        body = client.get("/v1/teams/billing-ui/tasks", params={"state": state}).json()
        assert body["count"] == len(body["tasks"])
        return [t["task_id"] for t in body["tasks"]]

    assert ids("open") == [three_tasks[0], three_tasks[2]]
    assert ids("resolved") == [three_tasks[1]]
    assert ids("all") == three_tasks


def test_an_unknown_team_has_no_tasks(client: TestClient, three_tasks: list[str]) -> None:
    body = client.get("/v1/teams/nobody-yet/tasks").json()
    assert body == {"team": "nobody-yet", "count": 0, "tasks": []}


@pytest.mark.parametrize(
    ("path", "params", "field", "reason"),
    [
        ("/v1/teams/Billing_UI/tasks", {}, "path.team", "lowercase letters"),
        ("/v1/teams/-billing/tasks", {}, "path.team", "lowercase letters"),
        (f"/v1/teams/{'a' * 64}/tasks", {}, "path.team", "1-63"),
        ("/v1/teams/%E8%AB%8B%E6%B1%82/tasks", {}, "path.team", "lowercase letters"),
        (
            "/v1/teams/billing-ui/tasks",
            {"state": "closed"},
            "query.state",
            "'open', 'acknowledged'",
        ),
        ("/v1/teams/billing-ui/tasks", {"limit": 0}, "query.limit", "greater than or equal to 1"),
        ("/v1/teams/billing-ui/tasks", {"limit": 51}, "query.limit", "less than or equal to 50"),
        ("/v1/teams/billing-ui/tasks", {"limit": "ten"}, "query.limit", "valid integer"),
        ("/v1/teams/billing-ui/tasks", {"offset": -1}, "query.offset", "greater than or equal"),
        ("/v1/teams/billing-ui/tasks", {"offset": 10**30}, "query.offset", "less than or equal"),
        ("/v1/tasks/has%00nul", {}, "path.task_id", "pattern"),
        (f"/v1/tasks/{'t' * 129}", {}, "path.task_id", "pattern"),
        ("/v1/stats/feedback-latency", {"since": "2025-03-03T09:00:00"}, "query.since", "timezone"),
        ("/v1/stats/feedback-latency", {"since": "yesterday"}, "query.since", "datetime"),
        (
            "/v1/stats/feedback-latency",
            {"since": "9999-12-31T23:00:00-05:00"},
            "query.since",
            "out of range",
        ),
        ("/v1/stats/feedback-latency", {"team": "NO"}, "query.team", "lowercase letters"),
    ],
)
def test_bad_query_input_is_a_422_naming_the_field(
    client: TestClient, path: str, params: dict[str, Any], field: str, reason: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    errors = errors_of(response)
    assert reason in errors[field]


def test_the_default_page_is_capped_by_the_configured_maximum(
    db_url: str, engine: sa.Engine, add_task: Any, publisher: Any
) -> None:
    for i in range(4):
        add_task(f"zd-{i}")
    settings = ApiSettings(
        database_url=db_url,
        api_projector=False,
        api_delivery=False,
        api_auth="off",
        api_page_size_max=3,
    )
    with TestClient(create_app(settings, engine=engine, publisher=publisher)) as client:
        body = client.get("/v1/teams/billing-ui/tasks").json()
    assert body["count"] == 4
    assert len(body["tasks"]) == 3


# --- one task -----------------------------------------------------------------------------------


def test_get_a_task(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")
    body = client.get(f"/v1/tasks/{task_id}").json()
    assert body["task_id"] == task_id == derived_id("task", "zd-1")
    assert body["source_event_id"] == "zd-1"
    assert body["account"] == "example.co.jp"
    assert body["rule"] == "component:billing-ui"
    assert body["sla_due"] == "2025-03-03T13:00:00Z"
    assert body["version"] == 1


def test_an_unknown_task_is_a_clear_404(client: TestClient) -> None:
    response = client.get("/v1/tasks/no-such-task")
    assert response.status_code == 404
    assert response.json() == {"detail": "task 'no-such-task' not found"}


# --- resolving ----------------------------------------------------------------------------------


def test_resolve_answers_with_the_resolved_task(
    client: TestClient, add_task: Any, publisher: Any, clock: Any
) -> None:
    task_id = add_task("zd-1")
    clock.advance(90)
    response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "  修正しました  "})
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "resolved"
    assert body["resolution"] == "修正しました"
    assert body["resolved_at"] == "2025-03-03T09:01:30Z"
    assert body["feedback_latency_s"] == 690.0
    [(key, event), (again, resolved)] = publisher.sent
    assert key == again == "example.co.jp"
    assert event.type == "task.feedback"  # the answer first, then the lifecycle event
    assert event.data["message"] == "修正しました"
    assert resolved.type == "task.resolved"
    assert resolved.data["status"] == "resolved"


def test_resolving_twice_is_a_409_naming_the_state(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")
    assert client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "a"}).status_code == 200
    response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "b"})
    assert response.status_code == 409
    assert response.json()["state"] == "resolved"
    assert "is resolved, not open" in response.json()["detail"]


def test_resolving_an_unknown_task_is_a_404(client: TestClient, publisher: Any) -> None:
    response = client.post("/v1/tasks/nope/resolve", json={"message": "a"})
    assert response.status_code == 404
    assert publisher.sent == []


def test_a_broker_that_does_not_ack_is_a_503_and_nothing_changes(
    client: TestClient, add_task: Any, publisher: Any
) -> None:
    task_id = add_task("zd-1")
    publisher.down = True
    response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "a"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "retry later" in response.json()["detail"]
    assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "open"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({}, "body.message", "Field required"),
        ({"message": ""}, "body.message", "at least 1 character"),
        ({"message": " \n\t "}, "body.message", "at least 1 character"),
        ({"message": "x" * 20_001}, "body.message", "at most 20000 characters"),
        ({"message": 42}, "body.message", "valid string"),
        ({"message": "a\x00b"}, "body.message", "NUL"),
        ({"message": "ok", "status": "won't fix"}, "body.status", "Extra inputs"),
        ([1, 2], "body", "valid dictionary"),
    ],
)
def test_a_bad_resolve_body_is_a_422_naming_the_field(
    client: TestClient, add_task: Any, publisher: Any, body: Any, field: str, reason: str
) -> None:
    task_id = add_task("zd-1")
    response = client.post(f"/v1/tasks/{task_id}/resolve", json=body)
    assert response.status_code == 422
    assert reason in errors_of(response)[field]
    assert publisher.sent == []


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"message": ', {"content-type": "application/json"}),
        (b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
        (b'{"message": "\\ud800"}', {"content-type": "application/json"}),
        (b"message=hello", {"content-type": "application/x-www-form-urlencoded"}),
        (b'{"message": "hi"}', {"content-type": "text/plain"}),
        (b"", {}),
    ],
)
def test_unparseable_bodies_are_a_4xx_never_a_500(
    client: TestClient, add_task: Any, content: bytes, headers: dict[str, str]
) -> None:
    task_id = add_task("zd-1")
    response = client.post(f"/v1/tasks/{task_id}/resolve", content=content, headers=headers)
    assert 400 <= response.status_code < 500
    assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "open"


def test_a_message_of_exactly_the_maximum_is_accepted(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")
    response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "あ" * 20_000})
    assert response.status_code == 200


def test_a_body_over_one_mebibyte_is_a_413_before_parsing(
    client: TestClient, add_task: Any
) -> None:
    task_id = add_task("zd-1")
    big = json.dumps({"message": "x" * (1024 * 1024)}).encode()
    response = client.post(
        f"/v1/tasks/{task_id}/resolve", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.json()["detail"]


def test_a_streamed_body_over_the_limit_is_a_413(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        f"/v1/tasks/{task_id}/resolve",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "open"


def test_an_invalid_content_length_is_a_400(client: TestClient, add_task: Any) -> None:
    task_id = add_task("zd-1")
    response = client.post(
        f"/v1/tasks/{task_id}/resolve",
        content=b'{"message": "x"}',
        headers={"content-type": "application/json", "content-length": "lots"},
    )
    assert response.status_code == 400


# --- summaries ----------------------------------------------------------------------------------


def test_teams_counts_open_and_resolved(client: TestClient, add_task: Any) -> None:
    a = add_task("zd-1")
    add_task("zd-2")
    add_task("zd-3", team="shipping")
    client.post(f"/v1/tasks/{a}/resolve", json={"message": "done"})
    teams = client.get("/v1/teams").json()["teams"]
    assert [(t["team"], t["open"], t["resolved"], t["backlog"]) for t in teams] == [
        ("billing-ui", 1, 1, 1),
        ("shipping", 1, 0, 1),
    ]
    assert teams[0]["states"] == {"open": 1, "resolved": 1}
    assert teams[0]["sla_breached"] == 0


def test_feedback_latency_overall_per_team_and_since(
    client: TestClient, add_task: Any, clock: Any
) -> None:
    empty = client.get("/v1/stats/feedback-latency").json()
    nothing = {"count": 0, "p50_s": None, "p90_s": None, "p99_s": None, "max_s": None}
    assert empty == {
        "overall": nothing,
        "teams": {},
        "router": nothing,
        "router_teams": {},
        "per_task": nothing,
    }
    billing = [add_task(f"zd-b{i}") for i in range(3)]  # each raised at T0 - 600 s
    shipping = add_task("zd-s", team="shipping")
    for i, task_id in enumerate(billing):
        clock.advance(100)  # answered after 700, 800, 900 s
        client.post(f"/v1/tasks/{task_id}/resolve", json={"message": f"answer {i}"})
    clock.advance(3600)
    client.post(f"/v1/tasks/{shipping}/resolve", json={"message": "shipped"})  # 4500 s

    body = client.get("/v1/stats/feedback-latency").json()
    assert body["overall"] == {
        "count": 4,
        "p50_s": 800.0,
        "p90_s": 4500.0,
        "p99_s": 4500.0,
        "max_s": 4500.0,
    }
    assert body["teams"]["billing-ui"] == {
        "count": 3,
        "p50_s": 800.0,
        "p90_s": 900.0,
        "p99_s": 900.0,
        "max_s": 900.0,
    }
    assert body["teams"]["shipping"]["count"] == 1

    only = client.get("/v1/stats/feedback-latency", params={"team": "shipping"}).json()
    assert only["overall"]["count"] == 1
    assert list(only["teams"]) == ["shipping"]

    # Answered 09:01:40, 09:03:20, 09:05:00 and 10:05:00 UTC; 18:03 in Tokyo is 09:03 UTC.
    since = client.get("/v1/stats/feedback-latency", params={"since": "2025-03-03T18:03:00+09:00"})
    assert since.json()["overall"]["count"] == 3


# --- health, metrics, the rest ------------------------------------------------------------------


def test_healthz_ok_with_the_projector_disabled(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "projector": "disabled",
            "deliverer": "disabled",
            "rules": "disabled",
        },
    }


def test_healthz_fails_when_the_projector_does_not_run(
    settings: ApiSettings, engine: sa.Engine, publisher: Any
) -> None:
    app = create_app(settings, engine=engine, publisher=publisher, start_projector=True)
    client = TestClient(app)  # no lifespan: the projector was never started
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "projector": "not running",
        "deliverer": "disabled",
        "rules": "not running",  # the rules feed runs with the Kafka parts
    }


def test_an_unreachable_database_is_a_503(
    tmp_path: Path, settings: ApiSettings, publisher: Any
) -> None:
    missing = sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'h.db'}")
    with TestClient(create_app(settings, engine=missing, publisher=publisher)) as client:
        health = client.get("/healthz")
        tasks = client.get("/v1/teams/billing-ui/tasks")
    assert health.status_code == 503
    assert health.json()["checks"]["database"].startswith("unreachable")
    assert tasks.status_code == 503
    assert tasks.headers["Retry-After"] == "5"


def test_metrics_label_requests_by_route_template(
    client: TestClient, add_task: Any, registry: CollectorRegistry
) -> None:
    task_id = add_task("zd-1")
    client.get(f"/v1/tasks/{task_id}")
    client.get("/v1/tasks/unknown")
    client.get("/no/such/route")
    client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "ok"})
    text = client.get("/metrics").text
    assert (
        'handoff_api_requests_total{method="GET",route="/v1/tasks/{task_id}",status="200"} 1.0'
        in text
    )
    assert (
        'handoff_api_requests_total{method="GET",route="/v1/tasks/{task_id}",status="404"} 1.0'
        in text
    )
    assert 'handoff_api_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'handoff_api_tasks_resolved_total{team="billing-ui"} 1.0' in text
    assert "handoff_api_feedback_latency_seconds_bucket" in text
    assert task_id not in text


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert client.get("/v2/everything").status_code == 404
    assert client.delete("/v1/teams").status_code == 405


def test_openapi_documents_every_endpoint_and_the_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/v1/teams/{team}/tasks",
        "/v1/tasks/{task_id}",
        "/v1/tasks/{task_id}/resolve",
        "/v1/teams",
        "/v1/stats/feedback-latency",
        "/healthz",
        "/metrics",
    }
    resolve = spec["paths"]["/v1/tasks/{task_id}/resolve"]["post"]["responses"]
    assert {"200", "404", "409", "413", "422", "503"} <= set(resolve)
    assert resolve["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ValidationErrorOut"
    )
