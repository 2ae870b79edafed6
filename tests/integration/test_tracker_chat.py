"""Chat hears about the team's work, in the team's language: a new task, SLA at risk and
breached, an escalation -- as Slack Block Kit and Teams Adaptive Cards that validate
against the published schemas (subsets in tests/vendors/chat.py), over the real broker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import topics
from schemas.events import (
    SLA_AT_RISK,
    SLA_BREACHED,
    TASK_ROUTED,
    Priority,
    SlaSignal,
    TaskRouted,
    derived_id,
)
from services.api.tracker import PrintTracker, TrackerConfig, consume
from services.api.tracker_store import TrackerStore
from services.api.tracker_sync import TeamSync
from services.connectors.config import ConnectorSpec
from services.connectors.registry import build_chat
from services.core.backoff import BackoffPolicy
from services.kafka_admin import ensure_topics
from tests.processes import SHARED_PARTITIONS
from tests.team_events import RAISED, publish, routed_task
from tests.vendors.chat import BLOCK_KIT, TEAMS_MESSAGE, ChatServer


def task(team: str, **changes: Any) -> TaskRouted:
    return routed_task(
        team,
        1,
        priority=Priority.URGENT,
        subject="請求書の画面がわかりにくい",
        description="ボタンが見つかりません",
        sla_due=RAISED + timedelta(hours=1),
        acknowledge_by=RAISED + timedelta(hours=1),
        resolve_by=None,
        summary="14件の依頼（3社）",
        **changes,
    )


@pytest.mark.parametrize("language", ["ja", "en"])
def test_new_work_and_sla_signals_reach_slack_and_teams_valid(
    kafka_bootstrap: str, sqlite_engine: Any, language: str
) -> None:
    team = f"chat-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team)], 1)
    ensure_topics(kafka_bootstrap, [topics.SLA, topics.FEEDBACK], SHARED_PARTITIONS)
    opened = task(team)
    escalated = task(team, task_id=derived_id("task", team, "2"), escalated_from="billing-ui")
    signal = SlaSignal(
        task_id=opened.task_id, team=team, clock="acknowledge", due=RAISED + timedelta(hours=1)
    )
    publish(
        kafka_bootstrap,
        [
            (topics.team_topic(team), TASK_ROUTED, opened),
            (topics.team_topic(team), TASK_ROUTED, escalated),
            (topics.SLA, SLA_AT_RISK, signal),
            (topics.SLA, SLA_BREACHED, signal),
        ],
    )
    slack, teams = ChatServer(BLOCK_KIT), ChatServer(TEAMS_MESSAGE)
    env = {"SLACK_URL": f"{slack.url}/hook", "TEAMS_URL": f"{teams.url}/hook"}
    chats = [
        build_chat(ConnectorSpec("slack", {"url_env": "SLACK_URL"}), env),
        build_chat(ConnectorSpec("teams", {"url_env": "TEAMS_URL"}), env),
    ]
    sync = TeamSync(
        team=team,
        tracker=PrintTracker(),
        store=TrackerStore(sqlite_engine, team, "print"),
        clock=lambda: datetime.now(UTC),
        chats=chats,
        language=language,
        dashboard_url="https://handoff.example.co.jp",
        policy=BackoffPolicy(0.01, 0.05),
    )
    config = TrackerConfig(
        bootstrap=kafka_bootstrap, team=team, group_id=f"chat-{team}", idle_exit_s=3.0
    )
    try:
        consume(config, sync)
    finally:
        slack.close()
        teams.close()
    assert slack.violations == []
    assert teams.violations == []
    assert len(slack.messages) == len(teams.messages) == 4
    expected = {
        "ja": [
            f"{team}に新しいタスク",
            f"{team}にエスカレーション",
            "SLA期限が迫っています",
            "SLA超過",
        ],
        "en": [f"New task for {team}", f"Escalated to {team}", "SLA at risk", "SLA breached"],
    }[language]
    for text in expected:
        assert text in slack.texts()
        assert text in teams.texts()
    assert "請求書の画面がわかりにくい" in slack.texts()
    assert "14件の依頼（3社）" in teams.texts()
    assert f"https://handoff.example.co.jp/dashboard/tasks/{opened.task_id}" in teams.texts()
