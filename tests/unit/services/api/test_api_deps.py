"""The page size bound: a setting of each app, shown in its OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.api.app import ROUTERS, create_app
from services.api.routes import accounts, tasks, teams
from services.api.settings import ApiSettings

PAGED = ("/v1/tasks", "/v1/teams/{team}/tasks", "/v1/accounts/{account}")


def _app_with_page_max(db_url: str, engine: sa.Engine, publisher: Any, page_max: int) -> Any:
    settings = ApiSettings(
        database_url=db_url,
        api_projector=False,
        api_delivery=False,
        api_auth="off",
        api_page_size_max=page_max,
    )
    return create_app(settings, engine=engine, publisher=publisher)


def _limit_schema(app: Any, path: str) -> dict[str, Any]:
    parameters = app.openapi()["paths"][path]["get"]["parameters"]
    schema: dict[str, Any] = next(p for p in parameters if p["name"] == "limit")["schema"]
    return schema


@pytest.mark.parametrize("path", PAGED)
def test_each_app_bounds_limit_by_its_own_page_size(
    db_url: str, engine: sa.Engine, publisher: Any, path: str
) -> None:
    small = _app_with_page_max(db_url, engine, publisher, 3)
    large = _app_with_page_max(db_url, engine, publisher, 500)

    assert (_limit_schema(small, path)["maximum"], _limit_schema(small, path)["default"]) == (3, 3)
    assert (_limit_schema(large, path)["maximum"], _limit_schema(large, path)["default"]) == (
        500,
        100,
    )


def test_a_limit_over_the_page_size_is_a_422_naming_the_field(
    db_url: str, engine: sa.Engine, publisher: Any
) -> None:
    with TestClient(_app_with_page_max(db_url, engine, publisher, 3)) as client:
        response = client.get("/v1/tasks", params={"limit": 4})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.limit"


def test_the_routers_keep_their_own_endpoints() -> None:
    declared = {route.endpoint for router in ROUTERS for route in router.routes}  # type: ignore[attr-defined]
    assert {tasks.list_tasks, teams.team_tasks, accounts.account_view} <= declared
