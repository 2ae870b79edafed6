"""GitHub Issues, played on 127.0.0.1.

- create: https://docs.github.com/en/rest/issues/issues#create-an-issue (``title`` required;
  ``body``, ``assignee``, ``milestone``, ``labels``, ``assignees``, ``type``; 201 with the issue)
- list by label: https://docs.github.com/en/rest/issues/issues#list-repository-issues
- update: https://docs.github.com/en/rest/issues/issues#update-an-issue (PATCH)
- comment: https://docs.github.com/en/rest/issues/comments#create-an-issue-comment (``body``)
- headers: https://docs.github.com/en/rest/about-the-rest-api/api-versions
  (``X-GitHub-Api-Version: 2022-11-28``), ``Accept: application/vnd.github+json``, a bearer token
- rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
  (secondary limits answer 403 or 429, with ``retry-after`` when GitHub says how long)
"""

from __future__ import annotations

import re
from typing import Any

from tests.vendors.server import Answer, FlakyCreate, Request, VendorServer

LABELS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 50}}
CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": ["string", "integer"], "minLength": 1},
        "body": {"type": ["string", "null"]},
        "assignee": {"type": ["string", "null"]},
        "milestone": {"type": ["string", "integer", "null"]},
        "labels": LABELS,
        "assignees": {"type": "array", "items": {"type": "string"}},
        "type": {"type": ["string", "null"]},
    },
}
UPDATE = {
    **CREATE,
    "required": [],
    "properties": {**CREATE["properties"], "state": {"enum": ["open", "closed"]}},
}
COMMENT = {
    "type": "object",
    "required": ["body"],
    "additionalProperties": False,
    "properties": {"body": {"type": "string", "minLength": 1}},
}


class GitHubServer(VendorServer):
    def __init__(self, *, repository: str, token: str) -> None:
        super().__init__()
        self.repository, self.token = repository, token
        self.flaky = FlakyCreate(
            lambda: Answer(
                429, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "1"}
            )
        )

    def answer(self, request: Request) -> Answer:
        headers = request.headers
        if headers.get("authorization") != f"Bearer {self.token}":
            return self.refuse(401, "Bad credentials")
        if (
            headers.get("accept") != "application/vnd.github+json"
            or headers.get("x-github-api-version") != "2022-11-28"
        ):
            return self.refuse(400, "the Accept / X-GitHub-Api-Version headers GitHub documents")
        found = re.fullmatch(
            rf"/repos/{self.repository}/issues(?:/(\d+)(/comments)?)?", request.path
        )
        if found is None:
            return self.refuse(404, f"{request.path}: Not Found")
        return self.route(request, int(found[1]) if found[1] else None, bool(found[2]))

    def route(self, request: Request, number: int | None, comments: bool) -> Answer:
        if number is None:
            return self.create(request) if request.method == "POST" else self.list(request)
        if number not in self.issues:
            return self.refuse(404, f"no issue {number}")
        if comments and request.method == "POST":
            refused = self.check(COMMENT, request.json(), "create a comment")
            self.comments.setdefault(number, []).append(request.json()["body"])
            return refused or Answer(201, {"id": 1, "body": request.json()["body"]})
        if request.method == "PATCH":
            refused = self.check(UPDATE, request.json(), "update an issue")
            self.edits.setdefault(number, []).append(request.json())
            return refused or Answer(200, self.issue(number))
        return self.refuse(405, f"{request.method} {request.path}")

    def issue(self, number: int) -> dict[str, Any]:
        url = f"https://github.com/{self.repository}/issues/{number}"
        return {"id": 1000 + number, "number": number, "html_url": url, **self.issues[number]}

    def create(self, request: Request) -> Answer:
        refused = self.check(CREATE, request.json(), "create an issue")
        limited = refused or self.flaky.before()
        if limited is not None:
            return limited
        number = len(self.issues) + 1
        self.issues[number] = {**request.json(), "state": "open"}
        return self.flaky.after() or Answer(201, self.issue(number))

    def list(self, request: Request) -> Answer:
        wanted = set(request.query.get("labels", [""])[0].split(","))
        found = [
            self.issue(n) for n, i in self.issues.items() if wanted <= set(i.get("labels", []))
        ]
        return Answer(200, found)
