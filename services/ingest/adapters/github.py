"""GitHub's ``issues`` and ``issue_comment`` webhooks back into handoff: an issue closed as
completed resolves its task (closed as not planned rejects it), reopened reopens it, a
comment tagged for the requester reaches them.

https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues (``action``:
closed, reopened; ``issue.state_reason``: completed, not_planned; ``issue.updated_at``)
and #issue_comment (``action: created``, ``comment.body``, ``comment.updated_at``). The
event name is the ``X-GitHub-Event`` header. Signed with ``X-Hub-Signature-256:
sha256=<hex>``, the HMAC-SHA256 of the raw body
(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
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
    from_iso,
    mapping,
    task_of,
    verify_hmac,
)

SIGNATURE: Final = "x-hub-signature-256"
EVENT: Final = "x-github-event"
BODY: Final = ("body",)


def verify(secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    verify_hmac(secret, headers.get(SIGNATURE), body, "X-Hub-Signature-256")


def _thing(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The object whose time says when this happened: the comment, else the issue."""
    if isinstance(body.get("comment"), Mapping):
        return body["comment"], (*BODY, "comment")
    return mapping(body.get("issue"), (*BODY, "issue")), (*BODY, "issue")


def event_time(payload: object) -> datetime:
    thing, loc = _thing(mapping(payload, BODY))
    return from_iso(thing.get("updated_at"), (*loc, "updated_at"))


def adapt(payload: object, headers: Mapping[str, str]) -> list[Normalised]:
    body = mapping(payload, BODY)
    issue = mapping(body.get("issue"), (*BODY, "issue"))
    labels = [
        str(label.get("name")) for label in issue.get("labels") or [] if isinstance(label, Mapping)
    ]
    task = task_of([str(issue.get("body") or "")], labels)
    found = _action(headers.get(EVENT), body, issue) if task else None
    if task is None or found is None:
        return []
    repository = (body.get("repository") or {}).get("full_name", "")
    change = TrackerChange(
        tracker="github", issue=f"{repository}#{issue.get('number')}", task_id=task,
        action=found[0], message=found[1], actor=_actor(body), at=event_time(body),
    )  # fmt: skip
    thing, _ = _thing(body)
    delivery = f"{thing.get('id')}:{body.get('action')}:{thing.get('updated_at')}"
    return [change_event(change, delivery)]


def _action(
    event: str | None, body: Mapping[str, Any], issue: Mapping[str, Any]
) -> tuple[TrackerAction, str] | None:
    action = body.get("action")
    if event == "issue_comment" and action == "created":
        return comment_action(
            str(mapping(body.get("comment"), (*BODY, "comment")).get("body") or "")
        )
    if event != "issues":
        return None
    if action == "closed":
        return (
            ("reject", "Closed as not planned")
            if issue.get("state_reason") == "not_planned"
            else ("resolve", "")
        )
    return ("reopen", "Reopened in GitHub") if action == "reopened" else None


def _actor(body: Mapping[str, Any]) -> str | None:
    login = (body.get("sender") or {}).get("login")
    return f"github:{login}"[:256] if isinstance(login, str) else None
