"""The routing rules through the API: read them, test labels, publish, check reassignments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api.app import create_app
from services.api.payloads.rules import RULES_TEXT_MAX
from services.api.rules import unknown_team
from services.api.settings import ApiSettings

from .fake_rules import RULES_YAML, FakeRules, load

RULES = load(RULES_YAML).rules
NEW_TEAM = RULES_YAML.replace("  shipping:", "  legal: {department: legal}\n  shipping:")


@pytest.fixture
def rules() -> FakeRules:
    return FakeRules()


@pytest.fixture
def with_rules(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, clock: Any, rules: FakeRules
) -> Iterator[TestClient]:
    app = create_app(
        settings,
        engine=engine,
        publisher=publisher,
        registry=CollectorRegistry(),
        clock=clock,
        rules=rules,
    )
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize(
    ("team", "known", "says"),
    [
        ("payments", True, None),
        ("anyone", False, None),  # no rules known: accepted as before
        ("legal", True, "'legal' is not a team of the routing rules"),
    ],
)
def test_unknown_team(team: str, known: bool, says: str | None) -> None:
    reason = unknown_team(team, RULES if known else None)
    if says is None:
        assert reason is None
    else:
        assert reason is not None
        assert says in reason
        assert f"version {RULES.version}" in reason
        assert "billing-ui, eng-oncall, payments, shipping" in reason


def test_get_rules_shows_the_version_teams_and_text(with_rules: TestClient) -> None:
    response = with_rules.get("/v1/rules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == RULES.version
    assert body["name"] == "routing.yaml"
    assert body["yaml"] == RULES_YAML
    assert body["teams"] == [
        {"name": "billing-ui", "department": "engineering", "escalate_to": "eng-oncall"},
        {"name": "eng-oncall", "department": "engineering", "escalate_to": None},
        {"name": "payments", "department": "engineering", "escalate_to": None},
        {"name": "shipping", "department": "logistics", "escalate_to": None},
    ]


def test_rules_test_gives_the_decisions(with_rules: TestClient) -> None:
    response = with_rules.post(
        "/v1/rules/test",
        json={
            "labels": {"component": "billing-ui", "account": "example.co.jp"},
            "at": "2025-03-03T18:00:00+09:00",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rules_version"] == RULES.version
    assert body["teams"] == ["billing-ui"]
    [route] = body["routes"]
    assert route["route_id"] == "/0"
    assert route["team"] == "billing-ui"
    assert route["department"] == "engineering"
    assert route["reason"] == "route /0"
    assert route["sla"] == "high"
    assert route["acknowledge_by"] == "2025-03-03T10:00:00Z"
    assert route["resolve_by"] == "2025-03-04T09:00:00Z"
    assert route["group_key"] == 'billing-ui:{component="billing-ui"}'
    assert route["escalate_to"] == "eng-oncall"
    assert route["capacity"] is False


def test_rules_test_without_a_match_goes_to_the_root_team(
    with_rules: TestClient, clock: Any
) -> None:
    response = with_rules.post("/v1/rules/test", json={"labels": {}})
    assert response.status_code == 200, response.text
    [route] = response.json()["routes"]
    assert (route["team"], route["sla"], route["acknowledge_by"]) == ("shipping", None, None)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/v1/rules", None), ("POST", "/v1/rules/test", {"labels": {"type": "x"}})],
)
def test_without_rules_reading_and_testing_are_a_503(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "no routing rules are known to this API" in response.json()["detail"]


def test_publishing_valid_rules_answers_the_version_and_team_count(
    with_rules: TestClient, rules: FakeRules
) -> None:
    response = with_rules.put("/v1/admin/rules", json={"yaml": NEW_TEAM, "name": "teams.yaml"})
    assert response.status_code == 200, response.text
    expected = load(NEW_TEAM).rules.version
    assert response.json() == {"version": expected, "name": "teams.yaml", "team_count": 5}
    assert [(r.name, r.text) for r in rules.published] == [("teams.yaml", NEW_TEAM)]
    again = with_rules.put("/v1/admin/rules", json={"yaml": NEW_TEAM})
    assert again.status_code == 200
    assert again.json()["version"] == expected  # the same text is the same version


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (RULES_YAML.replace("team: billing-ui\n", "team: nobody\n"), "routing.yaml:13: "),
        ("teams: {a: {}}\nroute:\n  team: [a\n", "routing.yaml:4:1: invalid YAML"),
        ("- just\n- a list\n", "the rule file must be a mapping"),
        (  # an upload names no files on the server
            RULES_YAML + "backstage: {catalogs: [/etc/passwd]}\n",
            "catalog files are not read for an uploaded rule set",
        ),
    ],
)
def test_rules_that_do_not_load_are_a_422_naming_the_line_and_nothing_is_published(
    with_rules: TestClient, rules: FakeRules, text: str, says: str
) -> None:
    response = with_rules.put("/v1/admin/rules", json={"yaml": text})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "body.yaml"
    assert says in body["errors"][0]["reason"]
    assert body["detail"].startswith("invalid request: body.yaml: routing.yaml")
    assert rules.published == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"yaml": ""}, "body.yaml"),
        ({"yaml": "teams: {}\x00"}, "body.yaml"),
        ({"yaml": "#" * (RULES_TEXT_MAX + 1)}, "body.yaml"),
        ({"yaml": RULES_YAML, "name": "../etc/routing.yaml"}, "body.name"),
        ({"yaml": RULES_YAML, "name": ""}, "body.name"),
        ({"yaml": RULES_YAML, "version": "x"}, "body.version"),
        ({"name": "routing.yaml"}, "body.yaml"),
    ],
)
def test_a_malformed_publish_request_is_a_422_naming_the_field(
    with_rules: TestClient, rules: FakeRules, body: dict[str, Any], field: str
) -> None:
    response = with_rules.put("/v1/admin/rules", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert rules.published == []


def test_a_body_over_the_limit_is_a_413(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, rules: FakeRules
) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 1000})
    app = create_app(small, engine=engine, publisher=publisher, rules=rules)
    with TestClient(app) as client:
        response = client.put("/v1/admin/rules", json={"yaml": RULES_YAML * 10})
    assert response.status_code == 413
    assert rules.published == []


def test_an_unavailable_broker_is_a_503_with_retry_after(
    with_rules: TestClient, rules: FakeRules
) -> None:
    rules.down = True
    response = with_rules.put("/v1/admin/rules", json={"yaml": NEW_TEAM})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "could not be published" in response.json()["detail"]
    assert rules.published == []


def test_reassigning_to_a_team_the_rules_do_not_know_is_a_422(
    with_rules: TestClient, add_task: Callable[..., str], publisher: Any
) -> None:
    task_id = add_task("zd-1")
    response = with_rules.post(
        f"/v1/tasks/{task_id}/reassign", json={"team": "legal", "message": "not ours"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "body.team"
    assert "'legal' is not a team" in error["reason"]
    assert "billing-ui, eng-oncall, payments, shipping" in error["reason"]
    assert with_rules.get(f"/v1/tasks/{task_id}").json()["state"] == "open"
    assert publisher.sent == []

    moved = with_rules.post(
        f"/v1/tasks/{task_id}/reassign", json={"team": "payments", "message": "card issue"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["team"] == "payments"


def test_without_rules_any_team_is_accepted(
    client: TestClient, add_task: Callable[..., str]
) -> None:
    task_id = add_task("zd-1")
    response = client.post(
        f"/v1/tasks/{task_id}/reassign", json={"team": "legal", "message": "not ours"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["team"] == "legal"


def test_healthz_reports_the_rules(with_rules: TestClient) -> None:
    assert with_rules.get("/healthz").json()["checks"]["rules"] == "ok"


def test_rules_test_with_deadlines_past_the_calendar_is_a_422(with_rules: TestClient) -> None:
    response = with_rules.post(
        "/v1/rules/test",
        json={"labels": {"component": "billing-ui"}, "at": "9999-12-31T23:30:00Z"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.at"


@pytest.mark.parametrize(
    "labels",
    [{"": "x"}, {"a\x00": "x"}, {"a": "x\x00"}, {"a": 1}, {str(n): "x" for n in range(101)}],
)
def test_malformed_labels_are_a_422(with_rules: TestClient, labels: dict[str, Any]) -> None:
    response = with_rules.post("/v1/rules/test", json={"labels": labels})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("body.labels")


def test_the_api_follows_the_routers_rules_key_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HANDOFF_API_RULES_KEY", raising=False)
    monkeypatch.delenv("HANDOFF_ROUTER_RULES_KEY", raising=False)
    assert ApiSettings().api_rules_key == "current"
    monkeypatch.setenv("HANDOFF_ROUTER_RULES_KEY", "staging")
    assert ApiSettings().api_rules_key == "staging"
    monkeypatch.setenv("HANDOFF_API_RULES_KEY", "api-only")
    assert ApiSettings().api_rules_key == "api-only"
    assert ApiSettings(api_rules_key="given").api_rules_key == "given"
