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
# Issue 11: lead quality judged on outcomes, and a task's outcomes in its detail.
ADDED_PATHS |= {"/v1/stats/lead-quality", "/v1/accounts/{account}/aliases", "/v1/accounts/links",
                "/v1/accounts/merge", "/v1/accounts/links/csv"}  # fmt: skip
ADDED_SCHEMAS |= {"LeadQualityOut", "LeadQualityPage", "OutcomeOut", "AccountAliasesOut",
                  "AliasOut", "ImportOut", "LinkRequest", "MergeRequest"}  # fmt: skip
ADDED_PROPERTIES = {"TaskDetail": ("outcomes",)}
# Issue 11: units held for rush orders per line and hold by hold; a task's rush order.
ADDED_PATHS |= {"/v1/capacity/lines", "/v1/capacity/holds"}
ADDED_SCHEMAS |= {"LinesOut", "LineHolds", "HoldsOut", "HoldOut", "OrderOut"}
# Issue 11: the language an account is answered in.
ADDED_PATHS |= {"/v1/accounts/{account}/locale"}
ADDED_SCHEMAS |= {"LocaleRequest", "AccountLocaleOut"}
ADDED_PROPERTIES["TaskDetail"] += ("order",)
# Issue 14: a task's issue in each team's tracker, and the tracker's refusal (TaskDetail).
ADDED_SCHEMAS |= {"TrackerOut"}
# Issue 16 (item 17): the callback URL's pattern, description and examples document what
# the server accepts (AnyHttpUrl, at most 2048 characters: ports above 9999, a query
# string, upper case); nothing else in CallbackRequest changes.
CHANGED_URL_KEYS = ("pattern", "description", "examples")
# Issue 16 (item 8): a callback's source must be a known one, its secret is optional when
# it has auth, and it has a method, static headers and auth (CallbackAuth); its answer
# shows them.
ADDED_SCHEMAS |= {"CallbackAuth"}
CALLBACK_SCHEMAS = ("CallbackRequest", "CallbackOut")
# Issues 16 (items 10-13) and 12: the figures read rollups, per asker, answered_by apart, and
# say the percentiles' bound; tasks show the resolve deadline and who answered. Fields are
# only added (optional) and descriptions reworded: every field a client knew keeps its shape.
ADDITIVE_SCHEMAS = {"LatencyOut", "LatencyStats", "FiguresOut", "FiguresPage", "WaitingOut"}
ADDITIVE_SCHEMAS |= {"TaskOut", "TaskDetail"}
REWORDED_PATHS = {"/v1/stats/feedback-latency", "/v1/stats/figures", "/v1/stats/who-waits"}


def _expected(name: str, before: Any) -> Any:
    """The fixture's schema ``name``, with the changes decided since then."""
    if name in ADDED_PROPERTIES:
        return _with_added_properties(name, before)
    if name not in CALLBACK_SCHEMAS:
        return before
    from services.api.payloads import callbacks

    mode = "serialization" if name == "CallbackOut" else "validation"  # as FastAPI reads it
    model = getattr(callbacks, name)
    now = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    changed = copy.deepcopy(before)
    if name == "CallbackRequest":
        url = now["properties"]["url"]
        changed["properties"]["url"].update({key: url[key] for key in CHANGED_URL_KEYS})
    for field in set(now["properties"]) - {"url"}:  # item 8: the rest as the model says
        changed["properties"][field] = now["properties"][field]
        if now["properties"][field].get("default", 0) is None:
            del changed["properties"][field]["default"]  # FastAPI's answers show no null default
    changed["required"] = now.get("required", [])
    for key in ("description",):
        if key in now:
            changed[key] = now[key]
    return _normalised(changed)


def _with_added_properties(name: str, before: Any) -> Any:
    """``before`` plus the optional properties added since (nothing else may change)."""
    from services.api.payloads import tasks

    model = getattr(tasks, name)
    ref = "#/components/schemas/{model}"
    now = model.model_json_schema(ref_template=ref, mode="serialization")["properties"]
    changed = copy.deepcopy(before)
    changed["properties"].update({key: now[key] for key in ADDED_PROPERTIES[name]})
    return _normalised(changed)


def _without_docs(node: Any) -> Any:
    """``node`` without the words for people (descriptions, summaries, titles)."""
    if isinstance(node, dict):
        docs = ("description", "summary", "title")
        return {key: _without_docs(value) for key, value in node.items() if key not in docs}
    if isinstance(node, list):
        return [_without_docs(item) for item in node]
    return node


def _assert_additive(name: str, before: Any, now: Any) -> None:
    """``now`` keeps every property of ``before`` as it was, and requires nothing new."""
    old, new = before["properties"], now["properties"]
    for key, value in old.items():
        assert _without_docs(new[key]) == _without_docs(value), (name, key)
    assert set(now.get("required", [])) <= set(before.get("required", [])), name


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
        if path in REWORDED_PATHS:
            assert _without_docs(now["paths"][path]) == _without_docs(operations), path
        else:
            assert now["paths"][path] == operations, path
    for name, schema in before["components"]["schemas"].items():
        if name in ADDITIVE_SCHEMAS:
            _assert_additive(name, schema, schemas[name])
        else:
            assert schemas[name] == _expected(name, schema), name
    assert {k: v for k, v in now["components"].items() if k != "schemas"} == {
        k: v for k, v in before["components"].items() if k != "schemas"
    }
    unchanged = {key: value for key, value in now.items() if key not in ("paths", "components")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("paths", "components")}
