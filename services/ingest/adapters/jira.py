"""Jira's webhooks back into handoff: an issue moved to a *done* status category resolves
its task, a cleared resolution reopens it, a comment tagged for the requester reaches them.

Payload: https://developer.atlassian.com/cloud/jira/platform/webhooks/ (``timestamp`` in
epoch ms, ``webhookEvent`` such as ``jira:issue_updated`` / ``comment_created``,
``issue.fields``, ``changelog.items[]`` with ``field``, ``fromString``, ``toString``,
and ``comment``). Admin webhooks registered with a secret carry ``X-Hub-Signature:
sha256=<hex>``, the HMAC-SHA256 of the raw body
(https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from schemas.trackers import TrackerAction, TrackerChange
from services.ingest.adapters.base import Normalised
from services.ingest.adapters.tracker_common import (
    change_event,
    comment_action,
    for_requester,
    from_millis,
    mapping,
    task_of,
    text,
    verify_hmac,
)

SIGNATURE: Final = "x-hub-signature"
BODY: Final = ("body",)


def verify(secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    verify_hmac(secret, headers.get(SIGNATURE), body, "X-Hub-Signature")


def event_time(payload: object) -> datetime:
    return from_millis(mapping(payload, BODY).get("timestamp"), (*BODY, "timestamp"))


def plain(value: object) -> str:
    """A description or comment body: wiki text (webhooks) or an ADF document (REST v3)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        own = value.get("text") if isinstance(value.get("text"), str) else ""
        inner = [plain(node) for node in value.get("content") or [] if isinstance(node, Mapping)]
        joiner = "\n" if value.get("type") == "doc" else ""
        return str(own) + joiner.join(inner)
    return ""


def adapt(payload: object, headers: Mapping[str, str]) -> list[Normalised]:
    """The task change this webhook stands for; none for an issue handoff did not make."""
    body = mapping(payload, BODY)
    issue = mapping(body.get("issue"), (*BODY, "issue"))
    fields = mapping(issue.get("fields") or {}, (*BODY, "issue", "fields"))
    labels = [str(label) for label in fields.get("labels") or []]
    task = task_of([plain(fields.get("description"))], labels)
    found = _action(body, fields) if task else None
    if task is None or found is None:
        return []
    action, message = found
    key = text(issue.get("key"), (*BODY, "issue", "key"))
    change = TrackerChange(
        tracker="jira", issue=key, task_id=task, action=action, message=message,
        actor=_actor(body), at=event_time(body),
    )  # fmt: skip
    delivery = f"{issue.get('id', key)}:{body.get('webhookEvent')}:{body.get('timestamp')}"
    return [change_event(change, delivery)]


def _action(body: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[TrackerAction, str] | None:
    event = body.get("webhookEvent")
    if event == "comment_created":
        return _comment(body)
    if event != "jira:issue_updated":
        return None
    items = [i for i in (body.get("changelog") or {}).get("items") or [] if isinstance(i, Mapping)]
    done = _category(fields) == "done"
    if done and any(i.get("field") == "status" for i in items):
        return "resolve", _answer(body, fields)
    if not done and any(i.get("field") == "resolution" and not i.get("to") for i in items):
        return "reopen", _comment_text(body) or "Reopened in Jira"
    return None


def _comment(body: Mapping[str, Any]) -> tuple[TrackerAction, str] | None:
    comment = body.get("comment")
    if not isinstance(comment, Mapping) or comment.get("jsdPublic") is False:
        return None  # an internal comment (Jira Service Management) never reaches the asker
    return comment_action(plain(comment.get("body")))


def _category(fields: Mapping[str, Any]) -> str | None:
    status = fields.get("status")
    category = status.get("statusCategory") if isinstance(status, Mapping) else None
    return str(category.get("key")) if isinstance(category, Mapping) else None


def _comment_text(body: Mapping[str, Any]) -> str:
    comment = body.get("comment")
    raw = plain(comment.get("body")) if isinstance(comment, Mapping) else ""
    return for_requester(raw) or raw.strip()


def _answer(body: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    """The comment made with the transition, else the issue's last comment, else its
    resolution's name; empty lets the task take the last comment handoff kept."""
    if said := _comment_text(body):
        return said
    comments = (
        (fields.get("comment") or {}).get("comments")
        if isinstance(fields.get("comment"), Mapping)
        else None
    )
    if comments and isinstance(comments[-1], Mapping):
        last = plain(comments[-1].get("body"))
        return for_requester(last) or last.strip()
    resolution = fields.get("resolution")
    return str(resolution.get("name", "")) if isinstance(resolution, Mapping) else ""


def _actor(body: Mapping[str, Any]) -> str | None:
    user = body.get("user")
    name = user.get("displayName") if isinstance(user, Mapping) else None
    return f"jira:{name}"[:256] if isinstance(name, str) else None
