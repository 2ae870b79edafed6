"""What a team reads about a task, in its language (ja/en): the issue and its updates.

Pure: a ``TaskRouted`` in, text out. A task's *snapshot* is what its updates
are measured against, so a redelivered event changes nothing and a priority
change is one comment on the same issue, never a second issue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from schemas.events import TaskRouted
from services.connectors.base import IssueDraft, marker, task_label

WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "requests": "Requests", "accounts": "Accounts", "requesters": "Requesters",
        "priority": "Priority", "acknowledge_by": "Acknowledge by", "resolve_by": "Resolve by",
        "rule": "Routed by", "dashboard": "Dashboard", "one_request": "1 request",
        "joined": "{n} requests now (was {old})", "priority_changed": "Priority {old} → {new}",
        "due_changed": "{what}: {old} → {new}", "team_changed": "Handed from {old} to {new}",
        "reopened": "Reopened", "escalated": "Escalated from {old} (SLA breached)",
        "updated": "handoff updated this task", "resolved": "Resolved in handoff: {message}",
        "rejected": "Rejected in handoff: {message}", "reopened_msg": "Reopened: {message}",
        "sla_at_risk": "SLA at risk: {clock} due {due}", "sla_breached": "SLA breached: {clock} "
        "was due {due}", "new_task": "New task for {team}", "escalated_title": "Escalated to "
        "{team}", "none": "—", "acknowledge": "acknowledge", "resolve": "resolve",
    },
    "ja": {
        "requests": "依頼", "accounts": "顧客", "requesters": "依頼者", "priority": "優先度",
        "acknowledge_by": "受付期限", "resolve_by": "解決期限", "rule": "振り分けルール",
        "dashboard": "ダッシュボード", "one_request": "1件の依頼",
        "joined": "依頼が{n}件になりました（以前は{old}件）",
        "priority_changed": "優先度 {old} → {new}",
        "due_changed": "{what}: {old} → {new}", "team_changed": "担当が{old}から{new}に移りました",
        "reopened": "再オープンされました", "escalated": "{old}からエスカレーション（SLA超過）",
        "updated": "handoffがこのタスクを更新しました", "resolved": "handoffで解決: {message}",
        "rejected": "handoffで却下: {message}", "reopened_msg": "再オープン: {message}",
        "sla_at_risk": "SLA期限が迫っています: {clock} 期限 {due}",
        "sla_breached": "SLA超過: {clock} 期限 {due}", "new_task": "{team}に新しいタスク",
        "escalated_title": "{team}にエスカレーション", "none": "—", "acknowledge": "受付",
        "resolve": "解決",
    },
}  # fmt: skip


def words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def when(value: datetime | None, language: str) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else words(language)["none"]


def dashboard_link(dashboard_url: str | None, task_id: str) -> str | None:
    return f"{dashboard_url.rstrip('/')}/dashboard/tasks/{task_id}" if dashboard_url else None


def facts(task: TaskRouted, language: str) -> list[tuple[str, str]]:
    """The lines every issue and card shows, in order."""
    w = words(language)
    return [
        (w["requests"], task.summary or w["one_request"]),
        (w["accounts"], ", ".join(task.accounts or [task.account])),
        (w["requesters"], ", ".join(task.requesters or [task.requester_email])),
        (w["priority"], task.priority.value),
        (w["acknowledge_by"], when(task.acknowledge_by, language)),
        (w["resolve_by"], when(task.resolve_by, language)),
        (w["rule"], task.reason or task.rule),
    ]


def issue_draft(task: TaskRouted, language: str, dashboard_url: str | None) -> IssueDraft:
    """The issue a task becomes: its text, the facts, a link back, the marker last."""
    lines = [f"{name}: {value}" for name, value in facts(task, language)]
    link = dashboard_link(dashboard_url, task.task_id)
    if link:
        lines.append(f"{words(language)['dashboard']}: {link}")
    body = "\n".join([task.description, "", "---", *lines, marker(task.task_id)])
    due = task.resolve_by or task.acknowledge_by or task.sla_due
    return IssueDraft(
        task_id=task.task_id,
        title=task.subject,
        body=body,
        priority=task.priority.value,
        labels=labels(task),
        due=due.date(),
    )


def labels(task: TaskRouted) -> tuple[str, ...]:
    found = ["handoff", f"priority:{task.priority.value}", task_label(task.task_id)]
    if task.component:
        found.append(f"component:{task.component}")
    return tuple(found)


def snapshot(task: TaskRouted) -> dict[str, Any]:
    """What the tracker was last told about the task (stored with the mapping)."""
    return {
        "team": task.team,
        "subject": task.subject,
        "priority": task.priority.value,
        "event_count": task.event_count,
        "acknowledge_by": _iso(task.acknowledge_by),
        "resolve_by": _iso(task.resolve_by),
        "reopened_at": _iso(task.reopened_at),
        "escalated_from": task.escalated_from,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def changes(old: dict[str, Any], task: TaskRouted, language: str) -> list[str]:
    """Each change since ``old`` as a line of the update comment; none for a redelivery."""
    new, w = snapshot(task), words(language)
    lines: list[str] = []
    if new["event_count"] > old.get("event_count", 1):
        lines.append(w["joined"].format(n=new["event_count"], old=old.get("event_count", 1)))
    if new["priority"] != old.get("priority"):
        lines.append(w["priority_changed"].format(old=old.get("priority"), new=new["priority"]))
    lines += _due_changes(old, new, task, language)
    if new["reopened_at"] and new["reopened_at"] != old.get("reopened_at"):
        lines.append(w["reopened"])
    return lines


def _due_changes(
    old: dict[str, Any], new: dict[str, Any], task: TaskRouted, language: str
) -> list[str]:
    w, lines = words(language), []
    for key, value in (("acknowledge_by", task.acknowledge_by), ("resolve_by", task.resolve_by)):
        if new[key] != old.get(key) and old.get(key) is not None:
            before = datetime.fromisoformat(old[key])
            lines.append(
                w["due_changed"].format(
                    what=w[key], old=when(before, language), new=when(value, language)
                )
            )
    return lines
