"""A task's lifecycle: which action moves which state where, and the event it publishes.

Pure (standard library and the event-type constants only), table-driven.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.events import (
    TASK_ACKNOWLEDGED,
    TASK_COMMENTED,
    TASK_IN_PROGRESS,
    TASK_REASSIGNED,
    TASK_REJECTED,
    TASK_REOPENED,
    TASK_RESOLVED,
)

ACTIVE: Final = frozenset({"open", "acknowledged", "in_progress", "reassigned", "reopened"})
CLOSED: Final = frozenset({"resolved", "rejected"})
ALL: Final = ACTIVE | CLOSED


@dataclass(frozen=True)
class Action:
    name: str
    event_type: str
    target: str | None  # None: the state stays (a comment)
    allowed_from: frozenset[str]
    needs_message: bool


ACTIONS: Final[dict[str, Action]] = {
    a.name: a
    for a in (
        Action(
            "acknowledge",
            TASK_ACKNOWLEDGED,
            "acknowledged",
            frozenset({"open", "reassigned", "reopened"}),
            needs_message=False,
        ),
        Action(
            "start",
            TASK_IN_PROGRESS,
            "in_progress",
            frozenset({"open", "acknowledged", "reassigned", "reopened"}),
            needs_message=False,
        ),
        Action("resolve", TASK_RESOLVED, "resolved", ACTIVE, needs_message=True),
        Action("reject", TASK_REJECTED, "rejected", ACTIVE, needs_message=True),
        Action("reassign", TASK_REASSIGNED, "reassigned", ACTIVE, needs_message=True),
        Action("reopen", TASK_REOPENED, "reopened", CLOSED, needs_message=True),
        Action("comment", TASK_COMMENTED, None, ALL, needs_message=True),
    )
}


def target_state(action: Action, current: str) -> str | None:
    """The state ``action`` leads to from ``current``, or None if it is not allowed there."""
    if current not in action.allowed_from:
        return None
    return action.target if action.target is not None else current


def department_of(source: str) -> str:
    """The raising department from a CloudEvents source.

    ``/sources/support`` -> ``support``; ``/zendesk/acme`` -> ``zendesk``; else ``unknown``.
    """
    parts = [p for p in source.split("/") if p]
    if parts and parts[0] == "sources":
        parts = parts[1:]
    return parts[0][:64].lower() if parts else "unknown"
