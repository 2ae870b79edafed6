"""Jira Cloud (REST v3) and Server/Data Center (REST v2), played on 127.0.0.1.

Request shapes from Atlassian's references:
- create: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post
  (``fields.project``, ``summary``, ``issuetype`` required; 201 ``{id, key, self}``);
  v2: https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/issue-createIssue
- description and comment bodies in Atlassian Document Format:
  https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/ (``doc`` with
  ``version: 1``; ``paragraph`` holding ``text`` nodes whose text is non-empty)
- comment: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post
- edit: ``PUT /rest/api/3/issue/{issueIdOrKey}`` answers 204
- search: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
- rate limits (429 with Retry-After):
  https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.vendors.server import Answer, FlakyCreate, Request, VendorServer

ADF_DOC: dict[str, Any] = {
    "type": "object",
    "required": ["type", "version", "content"],
    "properties": {
        "type": {"const": "doc"},
        "version": {"const": 1},
        "content": {"type": "array", "items": {"$ref": "#/$defs/paragraph"}},
    },
}
# ADF's node definitions, placed at each schema's root (where "#/$defs/..." resolves).
ADF_DEFS: dict[str, Any] = {
    "paragraph": {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "paragraph"},
            "content": {"type": "array", "items": {"$ref": "#/$defs/text"}},
        },
    },
    "text": {
        "type": "object",
        "required": ["type", "text"],
        "additionalProperties": False,
        "properties": {"type": {"const": "text"}, "text": {"type": "string", "minLength": 1}},
    },
}
NAMED = {
    "type": "object",
    "anyOf": [{"required": ["key"]}, {"required": ["id"]}, {"required": ["name"]}],
}


def fields_schema(description: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["fields"],
        "additionalProperties": False,
        "properties": {
            "fields": {
                "type": "object",
                "required": required,
                "properties": {
                    "project": NAMED,
                    "issuetype": NAMED,
                    "priority": NAMED,
                    "summary": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": description,
                    "labels": {"type": "array", "items": {"type": "string", "pattern": "^\\S+$"}},
                    "duedate": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
                },
            }
        },
    }


class JiraServer(VendorServer):
    def __init__(self, *, api: int, project: str, auth: str) -> None:
        super().__init__()
        self.api, self.project, self.auth = api, project, auth
        body: dict[str, Any] = ADF_DOC if api == 3 else {"type": "string"}
        create = fields_schema(body, ["project", "summary", "issuetype"])
        comment = {"type": "object", "required": ["body"], "properties": {"body": body}}
        self.create_schema, self.comment_schema = (
            {**create, "$defs": ADF_DEFS},
            {**comment, "$defs": ADF_DEFS},
        )
        self.edit_schema = {**fields_schema(body, []), "$defs": ADF_DEFS}
        self.flaky = FlakyCreate(
            lambda: Answer(429, {"errorMessages": ["Rate limited"]}, {"Retry-After": "1"})
        )

    def answer(self, request: Request) -> Answer:
        if request.headers.get("authorization") != self.auth:
            return self.refuse(401, f"{request.method} {request.path}: wrong or no Authorization")
        prefix = f"/rest/api/{self.api}/"
        if not request.path.startswith(prefix):
            return self.refuse(404, f"{request.path}: not a REST API v{self.api} path")
        return self.route(request, request.path[len(prefix) :])

    def route(self, request: Request, tail: str) -> Answer:
        issue = re.fullmatch(r"issue/([A-Z]+-\d+)(/comment)?", tail)
        if request.method == "POST" and tail == "issue":
            return self.create(request)
        if request.method == "GET" and tail == ("search/jql" if self.api == 3 else "search"):
            return self.search(request)
        if issue and request.method == "POST" and issue[2]:
            return self.comment(request, issue[1])
        if issue and request.method == "PUT" and not issue[2]:
            return self.edit(request, issue[1])
        return self.refuse(404, f"{request.method} {request.path}: no such operation")

    def create(self, request: Request) -> Answer:
        refused = self.check(self.create_schema, request.json(), "create issue")
        limited = refused or self.flaky.before()
        if limited is not None:
            return limited
        key = f"{self.project}-{len(self.issues) + 1}"
        self.issues[key] = request.json()["fields"]
        failed = self.flaky.after()
        return failed or Answer(
            201,
            {
                "id": str(10000 + len(self.issues)),
                "key": key,
                "self": f"{self.url}/rest/api/{self.api}/issue/{key}",
            },
        )

    def search(self, request: Request) -> Answer:
        label = re.search(r'labels = "([^"]+)"', request.query.get("jql", [""])[0])
        if label is None:
            return self.refuse(400, "search: the JQL names no label")
        found = [
            {"id": "1", "key": k} for k, f in self.issues.items() if label[1] in f.get("labels", [])
        ]
        return Answer(200, {"issues": found, "isLast": True})

    def comment(self, request: Request, key: str) -> Answer:
        refused = self.check(self.comment_schema, request.json(), "add comment")
        if refused or key not in self.issues:
            return refused or self.refuse(404, f"no issue {key}")
        self.comments.setdefault(key, []).append(request.json()["body"])
        return Answer(201, {"id": "1", "body": request.json()["body"]})

    def edit(self, request: Request, key: str) -> Answer:
        refused = self.check(self.edit_schema, request.json(), "edit issue")
        if refused or key not in self.issues:
            return refused or self.refuse(404, f"no issue {key}")
        self.edits.setdefault(key, []).append(request.json()["fields"])
        return Answer(204)


def basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def adf_text(document: Any) -> str:
    """The plain text of an ADF document (one line per paragraph)."""
    return "\n".join(
        "".join(node["text"] for node in paragraph.get("content", []))
        for paragraph in document["content"]
    )
