"""The interface every connector implements, and the one error they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final, Protocol

MARKER: Final = "handoff-task:"  # in every issue body: the task it belongs to
LABEL_PREFIX: Final = "handoff-task-"  # a searchable label carrying the task id


def marker(task_id: str) -> str:
    """The line that ties an issue to its task, whatever tracker holds it."""
    return f"{MARKER} {task_id}"


def task_label(task_id: str) -> str:
    """A label that finds the task's issue again (Jira and GitHub search by label)."""
    return f"{LABEL_PREFIX}{task_id}"


@dataclass(frozen=True)
class IssueDraft:
    """What a tracker issue says about a task, in the team's language."""

    task_id: str
    title: str
    body: str  # plain text, ends with ``marker(task_id)``
    priority: str  # handoff's priority: urgent, high, normal, low
    labels: tuple[str, ...] = ()
    due: date | None = None


@dataclass(frozen=True)
class IssueRef:
    """An issue in the tracker: its key (``BILL-12``, ``42``) and where people open it."""

    key: str
    url: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A chat notification: a headline, facts and a link."""

    kind: str  # new_task, sla_at_risk, sla_breached, escalated
    title: str
    text: str
    facts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    link: str | None = None
    link_text: str = "handoff"


class ConnectorError(Exception):
    """A vendor call failed: why, whether a retry may succeed, and when to retry."""

    def __init__(self, reason: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Tracker(Protocol):
    """A team tracker: one issue per task, then comments and label/priority updates."""

    kind: str

    def create(self, draft: IssueDraft) -> IssueRef: ...

    def find(self, task_id: str) -> IssueRef | None: ...

    def comment(self, issue: IssueRef, text: str) -> None: ...

    def update(self, issue: IssueRef, draft: IssueDraft) -> None: ...


class Chat(Protocol):
    """A team chat channel that hears about new work and SLAs at risk."""

    kind: str

    def post(self, message: ChatMessage) -> None: ...
