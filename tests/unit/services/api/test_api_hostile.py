"""Issue 10, defect 5: what a hostile client sends the API is a 4xx naming the field, not a 500.

Issue 16, item 16: the 401 for a header of another scheme says which scheme, and another
team's queue is a 404 that says the team is not visible to this token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api import auth
from services.api.app import create_app
from services.api.settings import ApiSettings
from services.rules.rules_file import MAX_NESTING

from .conftest import T0, AddTask
from .fake_rules import FakeRules


@pytest.fixture
def rules() -> FakeRules:
    return FakeRules()


@pytest.fixture
def secured(
    settings: ApiSettings, engine: sa.Engine, publisher: Any, clock: Any, rules: FakeRules
) -> Iterator[TestClient]:
    strict = settings.model_copy(update={"api_auth": "required"})
    app = create_app(
        strict, engine=engine, publisher=publisher, registry=CollectorRegistry(), clock=clock,
        rules=rules,
    )  # fmt: skip
    with TestClient(app) as client:
        yield client


def bearer(engine: sa.Engine, team: str | None, scope: auth.TokenScope) -> dict[str, str]:
    token = auth.create_token(engine, team=team, scope=scope, name="t", now=T0).token
    return {"Authorization": f"Bearer {token}"}


def cursor_of(raw: str) -> str:
    """A cursor whose decoded JSON is ``raw``, as the API encodes its own."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def fields_of(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    "decoded",
    [
        '["0001-01-01T00:00:00+14:00", "t"]',  # OverflowError once converted to UTC
        '["9999-12-31T23:59:59-12:00", "t"]',
        '["2025-03-03T09:00:00+00:00", "\\ud800"]',  # a task id with a lone surrogate
        '["2025-03-03T09:00:00+00:00", "a\\u0000b"]',  # a task id with NUL
    ],
)
def test_a_cursor_this_api_did_not_make_is_a_422_on_query_cursor(
    client: TestClient, add_task: AddTask, decoded: str
) -> None:
    add_task("zd-1")
    response = client.get("/v1/tasks", params={"cursor": cursor_of(decoded)})
    assert response.status_code == 422, response.text
    assert fields_of(response) == ["query.cursor"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/tasks", {"account": "\x00"}, "query.account"),
        ("/v1/tasks", {"department": "a\x00b"}, "query.department"),
        ("/v1/accounts/%00", {}, "path.account"),
        ("/v1/accounts/a%00b", {"limit": "5"}, "path.account"),
        ("/v1/stats/figures", {"department": "a\x00b"}, "query.department"),
    ],
)
def test_nul_in_a_path_or_query_parameter_is_a_422_naming_it(
    secured: TestClient, engine: sa.Engine, path: str, params: dict[str, str], field: str
) -> None:
    reader = bearer(engine, "billing-ui", "read")  # a read-scope team token suffices
    response = secured.get(path, params=params, headers=reader)
    assert response.status_code == 422, response.text
    assert fields_of(response) == [field]
    assert "NUL" in response.json()["detail"]


def test_a_token_named_with_nul_is_a_422_on_body_name(
    secured: TestClient, engine: sa.Engine
) -> None:
    body = {"scope": "admin", "name": "a\u0000b"}
    response = secured.post("/v1/admin/tokens", json=body, headers=bearer(engine, None, "admin"))
    assert response.status_code == 422, response.text
    assert "body.name" in response.json()["detail"]
    assert auth.list_tokens(engine)[1:] == []  # only the admin token that asked


@pytest.mark.parametrize(
    "text",
    [
        "route: " + "[" * 3000 + "]" * 3000,  # flow style
        "route:\n" + "- " * 3000 + "x",  # block style, compact
        "route: " + "{a: " * 3000 + "b" + "}" * 3000,
    ],
)
def test_yaml_nested_deeper_than_the_bound_is_a_422_on_body_yaml(
    secured: TestClient, engine: sa.Engine, rules: FakeRules, text: str
) -> None:
    body = {"yaml": text, "name": "deep.yaml"}
    response = secured.put("/v1/admin/rules", json=body, headers=bearer(engine, None, "admin"))
    assert response.status_code == 422, response.text
    assert fields_of(response) == ["body.yaml"]
    assert f"nested deeper than {MAX_NESTING} levels" in response.json()["detail"]
    assert rules.published == []


def test_yaml_nested_up_to_the_bound_still_loads_as_far_as_nesting_goes(
    secured: TestClient, engine: sa.Engine
) -> None:
    text = "route: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    response = secured.put(
        "/v1/admin/rules", json={"yaml": text}, headers=bearer(engine, None, "admin")
    )
    assert response.status_code == 422  # not a rule file, but refused for what it says
    assert "nested deeper" not in response.json()["detail"]


def test_a_header_of_another_scheme_says_the_scheme_expected(secured: TestClient) -> None:
    response = secured.get("/v1/teams", headers={"Authorization": "Token hf_abc"})
    assert response.status_code == 401
    assert "Authorization: Bearer <token>" in response.json()["detail"]
    assert "Bearer scheme" in response.json()["detail"]


def test_no_header_still_says_a_token_is_required(secured: TestClient) -> None:
    response = secured.get("/v1/teams")
    assert response.status_code == 401
    assert response.json()["detail"] == "a token is required (Authorization: Bearer <token>)"


@pytest.mark.parametrize("path", ["/v1/teams/shipping/tasks", "/v1/tasks?team=shipping"])
def test_another_teams_queue_is_a_404_saying_it_is_not_visible(
    secured: TestClient, engine: sa.Engine, path: str
) -> None:
    response = secured.get(path, headers=bearer(engine, "billing-ui", "read"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no team 'shipping' visible to this token"}


def test_a_stored_cursor_still_pages(client: TestClient, add_task: AddTask) -> None:
    for n in range(3):
        add_task(f"zd-{n}")
    first = client.get("/v1/tasks", params={"limit": 2}).json()
    rest = client.get("/v1/tasks", params={"cursor": first["next_cursor"]})
    assert rest.status_code == 200
    assert len(rest.json()["tasks"]) == 1
    assert json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=" * 4))[1]


@pytest.mark.parametrize("until", ["0001-01-01T11:10:05Z", "0001-01-31T00:00:00Z"])
def test_lead_quality_until_year_one_is_an_empty_window_not_a_500(
    client: TestClient, until: str
) -> None:
    """Found by ``make chaos``'s schemathesis run: 30 days before year 1 overflowed."""
    response = client.get("/v1/stats/lead-quality", params={"until": until})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["since"].startswith("0001-01-01T00:00:00")
    assert page["total"]["leads"] == 0


def test_lead_quality_since_after_until_names_since(client: TestClient) -> None:
    params = {"since": "0001-01-02T00:00:00Z", "until": "0001-01-01T11:10:05Z"}
    response = client.get("/v1/stats/lead-quality", params=params)
    assert response.status_code == 422
    assert fields_of(response) == ["query.since"]
