"""What chat says (new task, SLA at risk or breached, escalation), in the team's language.

Pure: events in, ``ChatMessage`` out; ``slack.blocks`` and ``teams.card`` render them.
"""

from __future__ import annotations

from schemas.events import SLA_AT_RISK, SlaSignal, TaskRouted
from services.connectors.base import ChatMessage, IssueRef
from services.connectors.content import dashboard_link, facts, when, words


def task_notice(task: TaskRouted, language: str, dashboard_url: str | None) -> ChatMessage:
    """A new task for the team (or one escalated to it)."""
    w = words(language)
    escalated = task.escalated_from is not None
    title = w["escalated_title" if escalated else "new_task"].format(team=task.team)
    text = task.subject
    if escalated:
        text = f"{task.subject}\n{w['escalated'].format(old=task.escalated_from)}"
    return ChatMessage(
        kind="escalated" if escalated else "new_task",
        title=title,
        text=text,
        facts=tuple(facts(task, language)),
        link=dashboard_link(dashboard_url, task.task_id),
    )


def sla_text(signal: SlaSignal, type_: str, language: str) -> str:
    w = words(language)
    template = w["sla_at_risk" if type_ == SLA_AT_RISK else "sla_breached"]
    return template.format(clock=w[signal.clock], due=when(signal.due, language))


def sla_notice(
    signal: SlaSignal, type_: str, subject: str, issue: IssueRef | None, language: str,
    dashboard_url: str | None,
) -> ChatMessage:  # fmt: skip
    """An SLA signal about one of the team's tasks, with a link to its issue when there is one."""
    link = issue.url if issue and issue.url else dashboard_link(dashboard_url, signal.task_id)
    return ChatMessage(
        kind="sla_at_risk" if type_ == SLA_AT_RISK else "sla_breached",
        title=sla_text(signal, type_, language),
        text=subject,
        link=link,
        link_text=issue.key if issue else "handoff",
    )
