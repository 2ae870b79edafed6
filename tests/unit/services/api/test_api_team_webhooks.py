"""A team registers the webhook its SLA alerts go to: its own only, known teams only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api import auth
from services.api.app import create_app
from services.api.db import Callback
from services.api.settings import ApiSettings

from .conftest import T0
from .fake_rules import FakeRules

HOOK = {"url": "https://chat.example.com/hooks/billing?token=x", "secret": "team-secret-0001"}


@pytest.fixture
def secured(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, clock: Any
) -> Iterator[TestClient]:
    strict = settings.model_copy(update={"api_auth": "required"})
    app = create_app(
        strict, engine=engine, publisher=publisher, registry=CollectorRegistry(),
        clock=clock, rules=FakeRules(),
    )  # fmt: skip
    with TestClient(app) as client:
        yield client


def bearer(engine: sa.Engine, team: str | None, scope: auth.TokenScope) -> dict[str, str]:
    token = auth.create_token(engine, team=team, scope=scope, name="t", now=T0).token
    return {"Authorization": f"Bearer {token}"}


def test_a_team_registers_reads_and_removes_its_webhook(
    secured: TestClient, engine: sa.Engine
) -> None:
    writer = bearer(engine, "billing-ui", "write")

    put = secured.put("/v1/teams/billing-ui/webhook", json=HOOK, headers=writer)
    got = secured.get("/v1/teams/billing-ui/webhook", headers=bearer(engine, "billing-ui", "read"))

    assert put.status_code == 200, put.text
    assert got.json() == {
        "team": "billing-ui",
        "url": HOOK["url"],
        "created_at": "2025-03-03T09:00:00Z",
    }
    assert HOOK["secret"] not in put.text + got.text
    with sa.orm.Session(engine) as session:
        stored = session.get(Callback, "team:billing-ui")
        assert stored is not None
        assert (stored.secret, stored.format) == (HOOK["secret"], "generic")
    assert secured.delete("/v1/teams/billing-ui/webhook", headers=writer).status_code == 204
    assert secured.get("/v1/teams/billing-ui/webhook", headers=writer).status_code == 404


def test_a_second_registration_replaces_the_first(secured: TestClient, engine: sa.Engine) -> None:
    admin = bearer(engine, None, "admin")
    secured.put("/v1/teams/payments/webhook", json=HOOK, headers=admin)
    newer = {**HOOK, "url": "https://chat.example.com/hooks/payments"}

    secured.put("/v1/teams/payments/webhook", json=newer, headers=admin)

    assert secured.get("/v1/teams/payments/webhook", headers=admin).json()["url"] == newer["url"]


@pytest.mark.parametrize(
    ("team", "body", "status", "field"),
    [
        ("no-such-team", HOOK, 404, "use one of billing-ui, eng-oncall, payments, shipping"),
        ("billing-ui", {**HOOK, "secret": "short"}, 422, "body.secret"),
        # PostgreSQL refuses NUL in text: a 422 here, not its DataError (the fuzzer's 500)
        ("billing-ui", {**HOOK, "secret": "s3cr3t-\u0000-s3cr3t-s3cr3t"}, 422, "NUL"),
        ("billing-ui", {**HOOK, "url": "ftp://example.com/x"}, 422, "body.url"),
        ("billing-ui", {**HOOK, "format": "zendesk"}, 422, "body.format"),
    ],
)
def test_bad_registrations_name_the_field(
    secured: TestClient, engine: sa.Engine, team: str, body: dict[str, str], status: int, field: str
) -> None:
    response = secured.put(
        f"/v1/teams/{team}/webhook", json=body, headers=bearer(engine, None, "admin")
    )

    assert response.status_code == status, response.text
    assert field in response.text


def test_another_teams_webhook_is_not_there_for_this_token(
    secured: TestClient, engine: sa.Engine
) -> None:
    secured.put("/v1/teams/payments/webhook", json=HOOK, headers=bearer(engine, None, "admin"))
    shipping = bearer(engine, "shipping", "write")

    seen = secured.get("/v1/teams/payments/webhook", headers=shipping)
    removed = secured.delete("/v1/teams/payments/webhook", headers=shipping)

    assert (seen.status_code, removed.status_code) == (404, 404)
    assert "no team 'payments' visible to this token" in seen.text
