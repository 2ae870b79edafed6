"""Backlog's webhooks back into handoff: an issue set to Resolved or Closed resolves its
task, set back to Open or In Progress reopens it, a comment tagged for the requester
reaches them.

The payload is Backlog's activity (https://developer.nulab.com/docs/backlog/api/2/get-recent-updates/):
``type`` 2 issue updated, 3 issue commented; ``content.changes[]`` with ``field``,
``old_value``, ``new_value`` (status ids: 1 Open, 2 In Progress, 3 Resolved, 4 Closed);
``content.comment.content``; ``created``. Backlog signs nothing
(https://support.nulab.com/hc/en-us/articles/8624316404377), so the webhook URL carries a
secret as its last path segment.
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
    from_iso,
    mapping,
    task_of,
)

BODY: Final = ("body",)
UPDATED, COMMENTED = 2, 3
CLOSED: Final = frozenset({"3", "4"})


def event_time(payload: object) -> datetime:
    return from_iso(mapping(payload, BODY).get("created"), (*BODY, "created"))


def adapt(payload: object, headers: Mapping[str, str]) -> list[Normalised]:
    body = mapping(payload, BODY)
    content = mapping(body.get("content"), (*BODY, "content"))
    task = task_of([str(content.get("description") or "")], [])
    found = _action(body.get("type"), content) if task else None
    if task is None or found is None:
        return []
    project = (body.get("project") or {}).get("projectKey", "")
    change = TrackerChange(
        tracker="backlog", issue=f"{project}-{content.get('key_id')}", task_id=task,
        action=found[0], message=found[1], actor=_actor(body), at=event_time(body),
    )  # fmt: skip
    return [change_event(change, str(body.get("id")))]


def _action(type_: object, content: Mapping[str, Any]) -> tuple[TrackerAction, str] | None:
    said = _comment(content)
    if type_ == COMMENTED:
        return comment_action(said) if said else None
    if type_ != UPDATED:
        return None
    for change in content.get("changes") or []:
        if isinstance(change, Mapping) and change.get("field") == "status":
            old, new = str(change.get("old_value")), str(change.get("new_value"))
            if new in CLOSED and old not in CLOSED:
                return "resolve", for_requester(said) or said
            if old in CLOSED and new not in CLOSED:
                return "reopen", for_requester(said) or said or "Reopened in Backlog"
    return None


def _comment(content: Mapping[str, Any]) -> str:
    comment = content.get("comment")
    return str(comment.get("content") or "").strip() if isinstance(comment, Mapping) else ""


def _actor(body: Mapping[str, Any]) -> str | None:
    name = (body.get("createdUser") or {}).get("name")
    return f"backlog:{name}"[:256] if isinstance(name, str) else None
