"""OpenAPI links for the API's document, so schemathesis can chain calls (stateful runs).

The API's own document has none; these say which response field feeds which
parameter: a listed task's id into its detail and its lifecycle actions, a new
token's id into its revocation, a team's name into its queue and webhook.
"""

from __future__ import annotations

from typing import Any

ACTIONS = ("acknowledge", "start", "resolve", "reject", "reopen", "reassign", "comments")
TASK = "/v1/tasks/{task_id}"
TASK_TARGETS = [("get", TASK), *(("post", f"{TASK}/{action}") for action in ACTIONS)]
WEBHOOK = "/v1/teams/{team}/webhook"
TEAM_TARGETS = [("get", "/v1/teams/{team}/tasks"), ("get", WEBHOOK), ("put", WEBHOOK)]

# (method, path, status) of the source -> (targets, parameter, runtime expression)
LINKS: list[tuple[tuple[str, str, str], list[tuple[str, str]], str, str]] = [
    (("get", "/v1/tasks", "200"), TASK_TARGETS, "task_id", "$response.body#/tasks/0/task_id"),
    (("get", "/v1/tasks", "200"), [("get", "/v1/accounts/{account}")], "account",
     "$response.body#/tasks/0/account"),
    (("get", "/v1/tasks", "200"), TEAM_TARGETS[:1], "team", "$response.body#/tasks/0/team"),
    (("get", TASK, "200"), TASK_TARGETS, "task_id", "$response.body#/task_id"),
    *((("post", f"{TASK}/{a}", "200"), TASK_TARGETS, "task_id", "$response.body#/task_id")
      for a in ACTIONS),
    (("post", "/v1/admin/tokens", "201"), [("delete", "/v1/admin/tokens/{token_id}")],
     "token_id", "$response.body#/token_id"),
    (("get", "/v1/teams", "200"), TEAM_TARGETS, "team", "$response.body#/teams/0/team"),
]  # fmt: skip


def with_links(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the links above added to the responses they start from."""
    paths = document["paths"]
    for (method, path, status), targets, parameter, expression in LINKS:
        source = paths.get(path, {}).get(method)
        if source is None or status not in source.get("responses", {}):
            continue
        links = source["responses"][status].setdefault("links", {})
        for target_method, target_path in targets:
            target = paths.get(target_path, {}).get(target_method)
            if target is not None and "operationId" in target:
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {parameter: expression},
                }
    return document
