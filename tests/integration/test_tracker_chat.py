"""Chat hears about the team's work, in the team's language: a new task, SLA at risk and
breached, an escalation -- as Slack Block Kit and Teams Adaptive Cards that validate
against the published schemas (subsets in tests/vendors/chat.py), over the real broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from schemas import topics
from schemas.events import (
    SLA_AT_RISK,
    SLA_BREACHED,
    TASK_ROUTED,
    Priority,
    SlaSignal,
    TaskRouted,
    derived_id,
    envelope,
)
from services.api.db import make_engine, upgrade
from services.api.tracker import PrintTracker, TrackerConfig, consume
from services.api.tracker_store import TrackerStore
from services.api.tracker_sync import TeamSync
from services.connectors.config import ConnectorSpec
from services.connectors.registry import build_chat
from services.core.backoff import BackoffPolicy
from services.kafka_admin import ensure_topics
from tests.vendors.chat import BLOCK_KIT, TEAMS_MESSAGE, ChatServer

RAISED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def task(team: str, **changes: Any) -> TaskRouted:
    return TaskRouted(
        task_id=derived_id("task", team),
        source_event_id=team,
        source="/sources/zendesk",
        team=team,
        rule="component:billing-ui",
        account="example.co.jp",
        priority=Priority.URGENT,
        component="billing-ui",
        subject="請求書の画面がわかりにくい",
        description="ボタンが見つかりません",
        requester_email="taro@example.co.jp",
        raised_at=RAISED,
        routed_at=RAISED,
        sla_due=RAISED + timedelta(hours=1),
        acknowledge_by=RAISED + timedelta(hours=1),
        summary="14件の依頼（3社）",
    ).model_copy(update=changes)


@pytest.mark.parametrize("language", ["ja", "en"])
def test_new_work_and_sla_signals_reach_slack_and_teams_valid(
    kafka_bootstrap: str, engine: Any, language: str
) -> None:
    team = f"chat-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team), topics.SLA, topics.FEEDBACK], 1)
    opened = task(team)
    escalated = task(team, task_id=derived_id("task", team, "2"), escalated_from="billing-ui")
    signal = SlaSignal(
        task_id=opened.task_id, team=team, clock="acknowledge", due=RAISED + timedelta(hours=1)
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for topic, type_, data in [
        (topics.team_topic(team), TASK_ROUTED, opened),
        (topics.team_topic(team), TASK_ROUTED, escalated),
        (topics.SLA, SLA_AT_RISK, signal),
        (topics.SLA, SLA_BREACHED, signal),
    ]:
        event = envelope(
            type_=type_,
            source="/handoff/router",
            data=data,
            time=RAISED,
            event_id=str(uuid.uuid4()),
        )
        producer.send(topic, key=b"example.co.jp", value=event.to_bytes()).get(10)
    producer.close()
    slack, teams = ChatServer(BLOCK_KIT), ChatServer(TEAMS_MESSAGE)
    env = {"SLACK_URL": f"{slack.url}/hook", "TEAMS_URL": f"{teams.url}/hook"}
    chats = [
        build_chat(ConnectorSpec("slack", {"url_env": "SLACK_URL"}), env),
        build_chat(ConnectorSpec("teams", {"url_env": "TEAMS_URL"}), env),
    ]
    sync = TeamSync(
        team=team,
        tracker=PrintTracker(),
        store=TrackerStore(engine, team, "print"),
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
