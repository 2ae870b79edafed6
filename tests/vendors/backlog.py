"""Backlog (Nulab), played on 127.0.0.1.

- auth: https://developer.nulab.com/docs/backlog/auth/#api-key (``apiKey`` query parameter)
- add issue: https://developer.nulab.com/docs/backlog/api/2/add-issue/ (form-encoded;
  projectId, summary, issueTypeId, priorityId required; 201 with ``id``, ``issueKey``)
- add comment: https://developer.nulab.com/docs/backlog/api/2/add-comment/ (``content``)
- update issue: https://developer.nulab.com/docs/backlog/api/2/update-issue/ (PATCH, form)
- issue list: https://developer.nulab.com/docs/backlog/api/2/get-issue-list/ (``keyword``)
- rate limits: https://developer.nulab.com/docs/backlog/rate-limit/ (429 with
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``, the epoch second it resets)
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.vendors.server import Answer, FlakyCreate, Request, VendorServer

NUMBER = {"type": "string", "pattern": "^[0-9]+$"}
ADD_ISSUE = {
    "type": "object",
    "required": ["projectId", "summary", "issueTypeId", "priorityId"],
    "additionalProperties": False,
    "properties": {
        "projectId": NUMBER,
        "summary": {"type": "string", "minLength": 1, "maxLength": 255},
        "issueTypeId": NUMBER,
        "priorityId": {"enum": ["2", "3", "4"]},
        "description": {"type": "string"},
        "parentIssueId": NUMBER,
        "startDate": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
        "dueDate": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
        "assigneeId": NUMBER,
    },
}
UPDATE_ISSUE = {**ADD_ISSUE, "required": []}
ADD_COMMENT = {
    "type": "object",
    "required": ["content"],
    "additionalProperties": False,
    "properties": {"content": {"type": "string", "minLength": 1}},
}


class BacklogServer(VendorServer):
    def __init__(self, *, project_key: str, project_id: int, api_key: str) -> None:
        super().__init__()
        self.project_key, self.project_id, self.api_key = project_key, project_id, api_key
        self.flaky = FlakyCreate(self.limited)

    def limited(self) -> Answer:
        """Backlog's 429: the reset is an epoch second, one second from now."""
        reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 2)}
        return Answer(429, {"errors": [{"message": "Too Many Requests", "code": 14}]}, reset)

    def answer(self, request: Request) -> Answer:
        if request.query.get("apiKey") != [self.api_key]:
            return self.refuse(401, "Authentication failure (apiKey)")
        if (
            request.method in ("POST", "PATCH")
            and request.headers.get("content-type") != "application/x-www-form-urlencoded"
        ):
            return self.refuse(400, "Backlog takes application/x-www-form-urlencoded")
        found = re.fullmatch(r"/api/v2/issues(?:/([A-Z_]+-\d+)(/comments)?)?", request.path)
        if found is None:
            return self.refuse(404, f"{request.path}: No such path")
        return self.route(request, found[1], bool(found[2]))

    def route(self, request: Request, key: str | None, comments: bool) -> Answer:
        if key is None:
            return self.create(request) if request.method == "POST" else self.list(request)
        if key not in self.issues:
            return self.refuse(404, f"No issue {key}")
        if comments and request.method == "POST":
            refused = self.check(ADD_COMMENT, request.form(), "add comment")
            self.comments.setdefault(key, []).append(request.form()["content"])
            return refused or Answer(201, {"id": 1, "content": request.form()["content"]})
        if request.method == "PATCH":
            refused = self.check(UPDATE_ISSUE, request.form(), "update issue")
            self.edits.setdefault(key, []).append(request.form())
            return refused or Answer(200, self.issue(key))
        return self.refuse(405, f"{request.method} {request.path}")

    def issue(self, key: str) -> dict[str, Any]:
        return {
            "id": int(key.split("-")[1]),
            "issueKey": key,
            "projectId": self.project_id,
            **self.issues[key],
        }

    def create(self, request: Request) -> Answer:
        refused = self.check(ADD_ISSUE, request.form(), "add issue")
        limited = refused or self.flaky.before()
        if limited is not None:
            return limited
        key = f"{self.project_key}-{len(self.issues) + 1}"
        self.issues[key] = request.form()
        return self.flaky.after() or Answer(201, self.issue(key))

    def list(self, request: Request) -> Answer:
        keyword = request.query.get("keyword", [""])[0]
        found = [
            self.issue(k)
            for k, i in self.issues.items()
            if keyword and keyword in i.get("description", "")
        ]
        return Answer(200, found)
