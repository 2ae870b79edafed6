"""Jira: Cloud (REST v3, Atlassian Document Format) and Server/Data Center (REST v2).

Cloud: ``POST /rest/api/3/issue`` with the description as an ADF document,
basic auth with an account e-mail and an API token
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post).
Server/DC: ``POST /rest/api/2/issue`` with a plain-text description and a
personal access token as ``Authorization: Bearer``
(https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/issue-createIssue).
The issue carries the label ``handoff-task-<id>``, so a retry after an
ambiguous failure finds it with JQL instead of creating a second one.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from services.connectors.base import IssueDraft, IssueRef, task_label
from services.connectors.http import VendorHttp

PRIORITIES: Final = {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per line."""
    return {"type": "doc", "version": 1, "content": [_paragraph(line) for line in text.split("\n")]}


def _paragraph(line: str) -> dict[str, Any]:
    if not line:
        return {"type": "paragraph"}
    return {"type": "paragraph", "content": [{"type": "text", "text": line}]}


class JiraTracker:
    """One Jira project; ``api`` is ``3`` (Cloud) or ``2`` (Server/Data Center)."""

    def __init__(
        self, http: VendorHttp, *, project: str, issue_type: str, api: int,
        priorities: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.http, self.project, self.issue_type, self.api = http, project, issue_type, api
        self.priorities = {**PRIORITIES, **(priorities or {})}
        self.kind = "jira-cloud" if api == 3 else "jira-server"

    def _text(self, text: str) -> Any:
        return adf(text) if self.api == 3 else text

    def _path(self, tail: str) -> str:
        return f"/rest/api/{self.api}/{tail}"

    def fields(self, draft: IssueDraft) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "summary": draft.title[:255],
            "issuetype": {"name": self.issue_type},
            "description": self._text(draft.body),
            "labels": list(draft.labels),
            "priority": {"name": self.priorities[draft.priority]},
        }
        if draft.due is not None:
            fields["duedate"] = draft.due.isoformat()
        return fields

    def create(self, draft: IssueDraft) -> IssueRef:
        answer = self.http.call("POST", self._path("issue"), json={"fields": self.fields(draft)})
        key = str(answer.json()["key"])
        return IssueRef(key, f"{self.http.base_url}/browse/{key}")

    def find(self, task_id: str) -> IssueRef | None:
        jql = f'project = "{self.project}" AND labels = "{task_label(task_id)}"'
        tail = "search/jql" if self.api == 3 else "search"
        params = {"jql": jql, "fields": "key", "maxResults": "1"}
        issues = self.http.call("GET", self._path(tail), params=params).json().get("issues", [])
        if not issues:
            return None
        key = str(issues[0]["key"])
        return IssueRef(key, f"{self.http.base_url}/browse/{key}")

    def comment(self, issue: IssueRef, text: str) -> None:
        path = self._path(f"issue/{issue.key}/comment")
        self.http.call("POST", path, json={"body": self._text(text)})

    def update(self, issue: IssueRef, draft: IssueDraft) -> None:
        fields = {
            "labels": list(draft.labels),
            "priority": {"name": self.priorities[draft.priority]},
        }
        self.http.call("PUT", self._path(f"issue/{issue.key}"), json={"fields": fields})


def basic_auth(user: str, token: str) -> dict[str, str]:
    """Jira Cloud's basic auth: the account e-mail and an API token."""
    pair = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}", "Accept": "application/json"}


def bearer_auth(token: str) -> dict[str, str]:
    """Jira Server/Data Center's personal access token."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
