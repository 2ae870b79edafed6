"""GitHub Issues: ``POST /repos/{owner}/{repo}/issues``, comments, labels.

https://docs.github.com/en/rest/issues/issues#create-an-issue and
https://docs.github.com/en/rest/issues/comments#create-an-issue-comment. A
token as ``Authorization: Bearer``, the versioned media type and API version
header GitHub asks for. The label ``handoff-task-<id>`` finds the issue again
(``GET /repos/{owner}/{repo}/issues?labels=...&state=all``).
"""

from __future__ import annotations

from typing import Final

from services.connectors.base import IssueDraft, IssueRef, task_label
from services.connectors.http import VendorHttp

API_VERSION: Final = "2022-11-28"


def github_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
    }


class GitHubTracker:
    """One repository's issues."""

    kind = "github"

    def __init__(self, http: VendorHttp, *, repository: str) -> None:
        self.http, self.repository = http, repository

    def _path(self, tail: str = "") -> str:
        return f"/repos/{self.repository}/issues{tail}"

    def create(self, draft: IssueDraft) -> IssueRef:
        body = {"title": draft.title[:256], "body": draft.body, "labels": list(draft.labels)}
        answer = self.http.call("POST", self._path(), json=body).json()
        return IssueRef(str(answer["number"]), answer.get("html_url"))

    def find(self, task_id: str) -> IssueRef | None:
        params = {"labels": task_label(task_id), "state": "all", "per_page": "1"}
        found = self.http.call("GET", self._path(), params=params).json()
        if not found:
            return None
        return IssueRef(str(found[0]["number"]), found[0].get("html_url"))

    def comment(self, issue: IssueRef, text: str) -> None:
        self.http.call("POST", self._path(f"/{issue.key}/comments"), json={"body": text})

    def update(self, issue: IssueRef, draft: IssueDraft) -> None:
        self.http.call("PATCH", self._path(f"/{issue.key}"), json={"labels": list(draft.labels)})
