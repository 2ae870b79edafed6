"""The API's published contract: the OpenAPI document a client generates code from.

`tests/fixtures/api/openapi-before-layout.json` was generated from main at 8966e9b,
with the `client` fixture's settings, before the API was split into one module per
resource (issue 9). Moving code must not change what a client sees, so the document
is compared with it, ignoring only the order of keys and of parameters. Endpoints
added since then are named below: an addition is a decision, never an accident.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

BEFORE = Path(__file__).parents[3] / "fixtures" / "api" / "openapi-before-layout.json"
# Issue 13: a team's webhook hears of its SLA alerts. Issue 10: /readyz (can it work now).
ADDED_PATHS = {"/v1/teams/{team}/webhook", "/readyz"}
ADDED_SCHEMAS = {"TeamWebhookOut", "TeamWebhookRequest", "ReadyOut"}
# Issue 16 (item 17): the callback URL's pattern, description and examples document what
# the server accepts (AnyHttpUrl, at most 2048 characters: ports above 9999, a query
# string, upper case); nothing else in CallbackRequest changes.
CHANGED_URL_KEYS = ("pattern", "description", "examples")


def _expected(name: str, before: Any) -> Any:
    """The fixture's schema ``name``, with the changes decided since then."""
    if name != "CallbackRequest":
        return before
    from services.api.payloads.callbacks import CallbackRequest

    url = CallbackRequest.model_json_schema()["properties"]["url"]
    changed = copy.deepcopy(before)
    changed["properties"]["url"].update({key: url[key] for key in CHANGED_URL_KEYS})
    return _normalised(changed)


def _normalised(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _normalised(value) for key, value in sorted(node.items())}
    if isinstance(node, list):
        items = [_normalised(item) for item in node]
        if all(isinstance(item, dict) and "name" in item and "in" in item for item in items):
            return sorted(items, key=lambda item: (item["in"], item["name"]))
        return items
    return node


def test_openapi_document_is_the_one_clients_had_before_the_layout_change(
    client: TestClient,
) -> None:
    now = _normalised(client.get("/openapi.json").json())
    before = _normalised(json.loads(BEFORE.read_text(encoding="utf-8")))

    assert set(now["paths"]) == set(before["paths"]) | ADDED_PATHS
    schemas = now["components"]["schemas"]
    assert set(schemas) == set(before["components"]["schemas"]) | ADDED_SCHEMAS
    for path, operations in before["paths"].items():
        assert now["paths"][path] == operations, path
    for name, schema in before["components"]["schemas"].items():
        assert schemas[name] == _expected(name, schema), name
    assert {k: v for k, v in now["components"].items() if k != "schemas"} == {
        k: v for k, v in before["components"].items() if k != "schemas"
    }
    unchanged = {key: value for key, value in now.items() if key not in ("paths", "components")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("paths", "components")}
