"""Tokens and the authorization matrix: every endpoint x every kind of caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api import auth
from services.api.app import create_app
from services.api.db import ApiToken
from services.api.feedback import Change, change_task
from services.api.settings import ApiSettings

from .conftest import T0
from .fake_rules import RULES_YAML, FakeRules

CALLERS = ("none", "bad", "other_team", "read_only", "right", "admin")


@pytest.fixture
def secured(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, clock: Any
) -> Iterator[TestClient]:
    strict = settings.model_copy(update={"api_auth": "required"})
    app = create_app(
        strict,
        engine=engine,
        publisher=publisher,
        registry=CollectorRegistry(),
        clock=clock,
        rules=FakeRules(),
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tokens(engine: sa.Engine) -> dict[str, str | None]:
    def make(team: str | None, scope: auth.TokenScope) -> str:
        return auth.create_token(engine, team=team, scope=scope, name=scope, now=T0).token

    return {
        "none": None,
        "bad": "hf_0000000000000000_not-a-real-token",
        "other_team": make("shipping", "write"),
        "read_only": make("billing-ui", "read"),
        "right": make("billing-ui", "write"),
        "admin": make(None, "admin"),
    }


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    kind: str  # "task" (one billing-ui task), "list" (filtered per team), "admin"
    scope: str  # "read" or "write" or "admin"
    body: dict[str, Any] | None = None
    prepare: str | None = None  # an action applied first, as admin
    ok: int = 200


ENDPOINTS = [
    Endpoint("GET", "/v1/teams/billing-ui/tasks?state=all", "task", "read"),
    Endpoint("GET", "/v1/tasks/{task}", "task", "read"),
    Endpoint("POST", "/v1/tasks/{task}/acknowledge", "task", "write", {}),
    Endpoint("POST", "/v1/tasks/{task}/start", "task", "write", {}),
    Endpoint("POST", "/v1/tasks/{task}/resolve", "task", "write", {"message": "済"}),
    Endpoint("POST", "/v1/tasks/{task}/reject", "task", "write", {"message": "no"}),
    Endpoint(
        "POST", "/v1/tasks/{task}/reassign", "task", "write", {"team": "payments", "message": "x"}
    ),
    Endpoint("POST", "/v1/tasks/{task}/reopen", "task", "write", {"message": "x"}, "resolve"),
    Endpoint("POST", "/v1/tasks/{task}/comments", "task", "write", {"message": "x"}),
    Endpoint("GET", "/v1/tasks", "list", "read"),
    Endpoint("GET", "/v1/teams", "list", "read"),
    Endpoint("GET", "/v1/accounts/example.co.jp", "list", "read"),
    Endpoint("GET", "/v1/stats/feedback-latency", "list", "read"),
    Endpoint("GET", "/v1/stats/figures", "list", "read"),
    Endpoint("GET", "/v1/stats/who-waits", "list", "read"),
    Endpoint("GET", "/v1/rules", "list", "read"),
    Endpoint("POST", "/v1/rules/test", "list", "read", {"labels": {"component": "billing-ui"}}),
    Endpoint("POST", "/v1/admin/tokens", "admin", "admin", {"team": "x", "scope": "read"}, ok=201),
    Endpoint("GET", "/v1/admin/tokens", "admin", "admin"),
    Endpoint("DELETE", "/v1/admin/tokens/{token}", "admin", "admin", ok=204),
    Endpoint(
        "PUT",
        "/v1/admin/callbacks",
        "admin",
        "admin",
        {"source": "/sources/support", "url": "http://127.0.0.1:9/x", "secret": "s" * 16},
    ),
    Endpoint("GET", "/v1/admin/callbacks", "admin", "admin"),
    Endpoint(
        "PUT",
        "/v1/teams/billing-ui/webhook",
        "task",  # the team's own: another team's token sees no such team (404)
        "write",
        {"url": "http://127.0.0.1:9/team", "secret": "t" * 16},
    ),
    Endpoint("PUT", "/v1/admin/rules", "admin", "admin", {"yaml": RULES_YAML}),
]


def expected(endpoint: Endpoint, caller: str) -> int:
    if caller in ("none", "bad"):
        return 401
    if caller == "admin":
        return endpoint.ok
    if endpoint.kind == "admin":
        return 403
    if caller == "read_only" and endpoint.scope == "write":
        return 403
    if caller == "other_team" and endpoint.kind == "task":
        return 404
    return endpoint.ok


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_authorization_matrix(
    secured: TestClient,
    tokens: dict[str, str | None],
    add_task: Callable[..., str],
    engine: sa.Engine,
    publisher: Any,
    clock: Any,
    endpoint: Endpoint,
    caller: str,
) -> None:
    task_id = add_task("zd-1")
    hidden = add_task("zd-secret", team="shipping", subject="shipping only secret")
    if endpoint.prepare:
        change_task(
            engine, task_id, Change(endpoint.prepare, message="x"), publisher=publisher, clock=clock
        )
    with sa.orm.Session(engine) as session:
        spare = session.scalars(
            sa.select(ApiToken.token_id).where(ApiToken.scope == "read")
        ).first()
    path = endpoint.path.format(task=task_id, token=spare)
    token = tokens[caller]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = secured.request(endpoint.method, path, json=endpoint.body, headers=headers)

    assert response.status_code == expected(endpoint, caller), response.text
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if response.status_code == 403:
        assert response.json()["required_scope"] == endpoint.scope
        assert endpoint.scope in response.json()["detail"]
    if caller == "other_team" and response.status_code < 300:
        assert task_id not in response.text  # billing-ui's task never leaks to shipping
        assert "請求書" not in response.text
    if caller in ("read_only", "right") and response.status_code < 300:
        assert hidden not in response.text  # nor shipping's to billing-ui
        assert "shipping only secret" not in response.text


def test_a_team_token_sees_other_teams_only_as_counts(
    secured: TestClient, tokens: dict[str, str | None], add_task: Callable[..., str]
) -> None:
    mine = add_task("zd-1")
    add_task("zd-2", team="shipping")
    headers = {"Authorization": f"Bearer {tokens['read_only']}"}
    detail = secured.get(f"/v1/tasks/{mine}", headers=headers).json()
    assert detail["related"] == []
    assert detail["related_elsewhere"] == [{"team": "shipping", "state": "open", "count": 1}]
    teams = secured.get("/v1/teams", headers=headers).json()["teams"]
    assert [t["team"] for t in teams] == ["billing-ui"]
    other = secured.get("/v1/tasks", params={"team": "shipping"}, headers=headers)
    assert other.status_code == 404


def test_tokens_are_stored_hashed_shown_once_and_revocable(
    secured: TestClient, tokens: dict[str, str | None], engine: sa.Engine
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = secured.post(
        "/v1/admin/tokens",
        json={"team": "billing-ui", "scope": "write", "name": "jira"},
        headers=admin,
    )
    assert created.status_code == 201
    token = created.json()["token"]
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert token not in stored
    assert auth.hash_token(token) in stored
    listed = secured.get("/v1/admin/tokens", headers=admin).json()
    assert all("token" not in t for t in listed)
    mine = {"Authorization": f"Bearer {token}"}
    assert secured.get("/v1/teams", headers=mine).status_code == 200
    revoked = secured.delete(f"/v1/admin/tokens/{created.json()['token_id']}", headers=admin)
    assert revoked.status_code == 204
    assert secured.get("/v1/teams", headers=mine).status_code == 401
    bad = secured.post("/v1/admin/tokens", json={"scope": "write"}, headers=admin)
    assert bad.status_code == 422


def test_health_and_metrics_need_no_token(secured: TestClient) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/metrics").status_code == 200
