"""One team's tracker and chat kept in step with its tasks: one issue per task, then updates.

Reads what ``handoff.team.<team>`` carries (``task.routed``: a task opened, a
request joined it, its priority or SLA changed, it was handed over, reopened or
escalated -- always under the same task id), the team's SLA signals from
``handoff.sla`` and the answer from ``handoff.feedback``. A redelivered event
changes nothing: the stored snapshot says what the tracker already knows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import (
    SLA_AT_RISK,
    SLA_BREACHED,
    TASK_REJECTED,
    TASK_REOPENED,
    TASK_RESOLVED,
    TASK_ROUTED,
    CloudEvent,
    SlaSignal,
    TaskFeedback,
    TaskRouted,
)
from services.api.tracker_store import Mapped, TrackerStore
from services.connectors.base import Chat, ChatMessage, IssueRef, Tracker
from services.connectors.content import changes, issue_draft, snapshot, words
from services.connectors.notices import sla_notice, task_notice
from services.connectors.retry import ensure_issue, with_retries
from services.core.backoff import BackoffPolicy

LIFECYCLE = {TASK_RESOLVED: "resolved", TASK_REJECTED: "rejected", TASK_REOPENED: "reopened_msg"}


@dataclass
class TeamSync:
    """The team's connectors, its mapping store and how hard to try."""

    team: str
    tracker: Tracker
    store: TrackerStore
    clock: Callable[[], datetime]
    chats: list[Chat] = field(default_factory=list)
    language: str = "en"
    dashboard_url: str | None = None
    attempts: int = 5
    policy: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(0.5, 30.0))
    sleep: Callable[[float], None] = time.sleep

    def handle(self, event: CloudEvent) -> None:
        """Apply one event of the team's; others are ignored. Raises ``GaveUpError``."""
        if event.data.get("team") != self.team:
            return
        if event.type == TASK_ROUTED:
            self.on_task(TaskRouted.model_validate(event.data))
        elif event.type in (SLA_AT_RISK, SLA_BREACHED):
            self.on_sla(SlaSignal.model_validate(event.data), event.type)
        elif event.type in LIFECYCLE:
            self.on_lifecycle(TaskFeedback.model_validate(event.data), event.type)

    def on_task(self, task: TaskRouted) -> None:
        known = self.store.get(task.task_id)
        if known is None or known.issue is None:
            self._open(task, looked_up=known is not None)
        else:
            self._update(task, known)

    def _open(self, task: TaskRouted, *, looked_up: bool) -> None:
        state = snapshot(task)
        if not looked_up:
            self.store.claim(task.task_id, state, self.clock())
        draft = issue_draft(task, self.language, self.dashboard_url)
        issue = ensure_issue(
            self.tracker, draft, look_first=looked_up, attempts=self.attempts,
            policy=self.policy, sleep=self.sleep,
        )  # fmt: skip
        self.store.record(task.task_id, issue, state, self.clock())
        self.notify(task_notice(task, self.language, self.dashboard_url))

    def _update(self, task: TaskRouted, known: Mapped) -> None:
        assert known.issue is not None
        lines = changes(known.snapshot, task, self.language)
        if not lines:
            return  # a redelivery, or nothing the tracker shows changed
        text = "\n".join([words(self.language)["updated"], *lines])
        self._call(lambda: self.tracker.comment(known.issue, text))  # type: ignore[arg-type]
        if task.priority.value != known.snapshot.get("priority"):
            draft = issue_draft(task, self.language, self.dashboard_url)
            self._call(lambda: self.tracker.update(known.issue, draft))  # type: ignore[arg-type]
        self.store.record(task.task_id, known.issue, snapshot(task), self.clock())

    def on_sla(self, signal: SlaSignal, type_: str) -> None:
        known = self.store.get(signal.task_id)
        issue = known.issue if known else None
        subject = str(known.snapshot.get("subject", signal.task_id)) if known else signal.task_id
        notice = sla_notice(signal, type_, subject, issue, self.language, self.dashboard_url)
        if issue is not None:
            self._call(lambda: self.tracker.comment(issue, notice.title))
        self.notify(notice)

    def on_lifecycle(self, feedback: TaskFeedback, type_: str) -> None:
        known = self.store.get(feedback.task_id)
        if known is None or known.issue is None:
            return
        issue: IssueRef = known.issue
        text = words(self.language)[LIFECYCLE[type_]].format(message=feedback.message)
        self._call(lambda: self.tracker.comment(issue, text))

    def notify(self, message: ChatMessage) -> None:
        for chat in self.chats:
            self._call(lambda chat=chat: chat.post(message))  # type: ignore[misc]

    def _call(self, call: Callable[[], None]) -> None:
        with_retries(
            lambda _attempt: call(), attempts=self.attempts, policy=self.policy, sleep=self.sleep
        )
