"""Tracker webhooks as the vendors send them, written from their documentation.

- Jira: https://developer.atlassian.com/cloud/jira/platform/webhooks/ (``timestamp`` in ms,
  ``webhookEvent``, ``user``, ``issue`` with ``fields``, ``changelog.items``, ``comment``);
  admin webhooks with a secret send ``X-Hub-Signature: sha256=<hex>`` of the raw body
  (https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
- GitHub: https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues and
  #issue_comment; headers ``X-GitHub-Event``, ``X-GitHub-Delivery``,
  ``X-Hub-Signature-256`` (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
- Backlog: the activity JSON (https://developer.nulab.com/docs/backlog/api/2/get-recent-updates/),
  ``type`` 2 updated / 3 commented, status ids 1 Open .. 4 Closed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

DESCRIPTION = "請求書のダウンロードボタンが見つかりません。\n---"


def hub_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def jira_issue(task_id: str, category: str, status: str, resolution: str | None) -> dict[str, Any]:
    return {
        "id": "10002",
        "self": "https://acme.atlassian.net/rest/api/2/10002",
        "key": "BILL-7",
        "fields": {
            "summary": "請求書の画面がわかりにくい",
            "description": f"{DESCRIPTION}\nhandoff-task: {task_id}",
            "labels": ["handoff", "priority:high"],
            "status": {
                "name": status,
                "id": "10001",
                "statusCategory": {"id": 3, "key": category, "name": status},
            },
            "resolution": {"id": "10000", "name": resolution} if resolution else None,
        },
    }


def jira_done(task_id: str, at: datetime, comment: str | None) -> dict[str, Any]:
    """``jira:issue_updated``: moved to Done (status category ``done``), maybe with a comment."""
    payload: dict[str, Any] = {
        "timestamp": int(at.timestamp() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Hanako Sato"},
        "issue": jira_issue(task_id, "done", "Done", "Done"),
        "changelog": {
            "id": "10010",
            "items": [
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": None,
                    "to": "10000",
                    "toString": "Done",
                },
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": "3",
                    "fromString": "In Progress",
                    "to": "10001",
                    "toString": "Done",
                },
            ],
        },
    }
    if comment:
        payload["comment"] = {
            "id": "10050",
            "body": comment,
            "author": payload["user"],
            "created": _iso(at),
        }
    return payload


def jira_reopened(task_id: str, at: datetime) -> dict[str, Any]:
    payload = jira_done(task_id, at, None)
    payload["issue"] = jira_issue(task_id, "new", "Reopened", None)
    payload["changelog"]["items"] = [
        {
            "field": "resolution",
            "fieldtype": "jira",
            "from": "10000",
            "fromString": "Done",
            "to": None,
            "toString": None,
        },
        {
            "field": "status",
            "fieldtype": "jira",
            "from": "10001",
            "fromString": "Done",
            "to": "4",
            "toString": "Reopened",
        },
    ]
    return payload


def jira_comment(task_id: str, at: datetime, body: str) -> dict[str, Any]:
    payload = jira_done(task_id, at, body)
    payload["webhookEvent"] = "comment_created"
    payload["issue"] = jira_issue(task_id, "indeterminate", "In Progress", None)
    del payload["changelog"]
    return payload


def github_issue(task_id: str, at: datetime, state: str, reason: str | None) -> dict[str, Any]:
    return {
        "id": 1,
        "number": 7,
        "title": "請求書の画面がわかりにくい",
        "state": state,
        "state_reason": reason,
        "html_url": "https://github.com/acme/billing/issues/7",
        "body": f"{DESCRIPTION}\nhandoff-task: {task_id}",
        "labels": [{"id": 208045946, "name": "handoff", "color": "f29513"}],
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": _iso(at),
        "closed_at": _iso(at) if state == "closed" else None,
    }


def github_issues(
    task_id: str, at: datetime, action: str, reason: str | None = "completed"
) -> dict[str, Any]:
    """``issues`` with ``action`` closed (state_reason completed / not_planned) or reopened."""
    state = "closed" if action == "closed" else "open"
    return {
        "action": action,
        "issue": github_issue(task_id, at, state, reason if state == "closed" else None),
        "repository": {"id": 1296269, "full_name": "acme/billing"},
        "sender": {"login": "hanako", "id": 1},
    }


def github_comment(task_id: str, at: datetime, body: str) -> dict[str, Any]:
    return {
        "action": "created",
        "issue": github_issue(task_id, at, "open", None),
        "comment": {
            "id": 99,
            "body": body,
            "created_at": _iso(at),
            "updated_at": _iso(at),
            "user": {"login": "hanako"},
        },
        "repository": {"id": 1296269, "full_name": "acme/billing"},
        "sender": {"login": "hanako", "id": 1},
    }


def github_headers(event: str, secret: bytes, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": hub_signature(secret, body),
    }


def backlog_activity(
    task_id: str, at: datetime, type_: int, comment: str, changes: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "id": int(at.timestamp()) + type_,
        "type": type_,
        "project": {"id": 12345, "projectKey": "BILL", "name": "請求"},
        "content": {
            "id": 4809,
            "key_id": 7,
            "summary": "請求書の画面がわかりにくい",
            "description": f"{DESCRIPTION}\nhandoff-task: {task_id}",
            "comment": {"id": 7237, "content": comment},
            "changes": changes,
        },
        "createdUser": {"id": 1, "userId": "hanako", "name": "佐藤花子"},
        "created": _iso(at),
    }


def backlog_closed(task_id: str, at: datetime, comment: str) -> dict[str, Any]:
    return backlog_activity(
        task_id,
        at,
        2,
        comment,
        [{"field": "status", "new_value": "4", "old_value": "2", "type": "standard"}],
    )


def to_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
