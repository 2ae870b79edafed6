"""Issue 10, defect 5 on PostgreSQL, which refuses NUL in text (a ``DataError``, once a 500):
NUL in a path or query parameter is a 422 naming it, for a read-scope team token; the same
requests without NUL still answer 200 from PostgreSQL; /readyz asks PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api import auth
from services.api.app import create_app
from services.api.db import make_engine, upgrade
from services.api.settings import ApiSettings
from tests.unit.services.api.conftest import FakeClock, FakeFeedbackPublisher


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[sa.Engine]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def secured(postgres_url: str, pg_engine: sa.Engine) -> Iterator[TestClient]:
    settings = ApiSettings(
        database_url=postgres_url, api_projector=False, api_delivery=False, api_auth="required"
    )
    app = create_app(
        settings,
        engine=pg_engine,
        publisher=FakeFeedbackPublisher(),
        registry=CollectorRegistry(),
        clock=FakeClock(),
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def reader(pg_engine: sa.Engine) -> dict[str, str]:
    now = datetime(2025, 3, 3, tzinfo=UTC)
    token = auth.create_token(pg_engine, team="billing-ui", scope="read", name="r", now=now)
    return {"Authorization": f"Bearer {token.token}"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/tasks", {"account": "\x00"}, "query.account"),
        ("/v1/tasks", {"department": "a\x00b"}, "query.department"),
        ("/v1/accounts/%00", {}, "path.account"),
        ("/v1/stats/figures", {"department": "a\x00b"}, "query.department"),
    ],
)
def test_nul_in_a_parameter_is_a_422_on_postgresql(
    secured: TestClient, reader: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    response = secured.get(path, params=params, headers=reader)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    clean = {k: v.replace("\x00", "x") for k, v in params.items()}
    answered = secured.get(path.replace("%00", "x"), params=clean, headers=reader)
    assert answered.status_code == 200, answered.text


def test_ready_on_postgresql(secured: TestClient) -> None:
    response = secured.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "projector": "disabled"}
