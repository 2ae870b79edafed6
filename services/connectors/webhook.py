"""Any tracker that takes a webhook: one ``opened`` item per task, then its updates.

The body keeps the GitHub-issues-like fields ``handoff tracker consume
--webhook`` always sent (title, body, labels, external_id, due_on) and adds
``action``: ``opened`` once per task, ``updated`` when its priority or SLA
changed, ``commented`` for news (more requests joined, an SLA signal, the
answer). ``external_id`` (the task id) is the receiver's idempotency key.
"""

from __future__ import annotations

from typing import Any

from services.connectors.base import LABEL_PREFIX, IssueDraft, IssueRef
from services.connectors.http import VendorHttp


def item(draft: IssueDraft, action: str) -> dict[str, Any]:
    return {
        "action": action,
        "title": draft.title,
        "body": draft.body,
        "labels": [label for label in draft.labels if not label.startswith(LABEL_PREFIX)],
        "external_id": draft.task_id,
        "priority": draft.priority,
        "due_on": draft.due.isoformat() if draft.due else None,
    }


class WebhookTracker:
    """POSTs JSON to one URL (with the configured headers, e.g. ``Authorization``)."""

    kind = "webhook"

    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    def create(self, draft: IssueDraft) -> IssueRef:
        self.http.call("POST", "", json=item(draft, "opened"))
        return IssueRef(draft.task_id)

    def find(self, task_id: str) -> IssueRef | None:
        return None  # the receiver deduplicates by external_id

    def comment(self, issue: IssueRef, text: str) -> None:
        self.http.call(
            "POST", "", json={"action": "commented", "external_id": issue.key, "comment": text}
        )

    def update(self, issue: IssueRef, draft: IssueDraft) -> None:
        self.http.call("POST", "", json=item(draft, "updated"))


def print_item(draft: IssueDraft, action: str) -> dict[str, Any]:
    """The same item, for ``tracker consume`` without a webhook (printed as JSON lines)."""
    return item(draft, action)
