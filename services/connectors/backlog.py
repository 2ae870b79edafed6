"""Backlog (Nulab): ``POST /api/v2/issues?apiKey=...``, form-encoded.

https://developer.nulab.com/docs/backlog/api/2/add-issue/ (projectId,
summary, issueTypeId, priorityId required; description, dueDate optional),
https://developer.nulab.com/docs/backlog/api/2/add-comment/ (``content``),
https://developer.nulab.com/docs/backlog/api/2/update-issue/ (PATCH) and
https://developer.nulab.com/docs/backlog/api/2/get-issue-list/ (``keyword``),
which finds the task's marker again after an ambiguous failure.
Backlog's priority ids: 2 High, 3 Normal, 4 Low.
"""

from __future__ import annotations

from typing import Final

from services.connectors.base import IssueDraft, IssueRef
from services.connectors.http import VendorHttp

PRIORITIES: Final = {"urgent": 2, "high": 2, "normal": 3, "low": 4}


class BacklogTracker:
    """One Backlog project (by its numeric id) and issue type."""

    kind = "backlog"

    def __init__(self, http: VendorHttp, *, project_id: int, issue_type_id: int) -> None:
        self.http, self.project_id, self.issue_type_id = http, project_id, issue_type_id

    def _ref(self, answer: dict[str, object]) -> IssueRef:
        key = str(answer["issueKey"])
        return IssueRef(key, f"{self.http.base_url}/view/{key}")

    def create(self, draft: IssueDraft) -> IssueRef:
        form = {
            "projectId": str(self.project_id),
            "summary": draft.title[:255],
            "issueTypeId": str(self.issue_type_id),
            "priorityId": str(PRIORITIES[draft.priority]),
            "description": draft.body,
        }
        if draft.due is not None:
            form["dueDate"] = draft.due.isoformat()
        return self._ref(self.http.call("POST", "/api/v2/issues", data=form).json())

    def find(self, task_id: str) -> IssueRef | None:
        params = {"projectId[]": str(self.project_id), "keyword": task_id, "count": "1"}
        found = self.http.call("GET", "/api/v2/issues", params=params).json()
        return self._ref(found[0]) if found else None

    def comment(self, issue: IssueRef, text: str) -> None:
        path = f"/api/v2/issues/{issue.key}/comments"
        self.http.call("POST", path, data={"content": text})

    def update(self, issue: IssueRef, draft: IssueDraft) -> None:
        form = {"priorityId": str(PRIORITIES[draft.priority])}
        self.http.call("PATCH", f"/api/v2/issues/{issue.key}", data=form)
