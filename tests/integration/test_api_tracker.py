"""`handoff tracker consume --webhook`: one item per *task*, then updates of it (issue 16.15).

Two tasks and a priority change of the first (the router re-sends the same task id)
reach the webhook as two ``opened`` items and one ``updated`` item with its
comment -- never a third task. The webhook gets the bearer token named by
``--auth-env``; offsets are committed after its 2xx (the 503 is retried).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from typer.testing import CliRunner

from schemas import topics
from schemas.events import TASK_ROUTED, Priority, TaskRouted, derived_id, envelope
from services.cli import app
from services.kafka_admin import ensure_topics
from tests.processes import SHARED_PARTITIONS
from tests.receivers import Origin

RAISED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def routed(team: str, n: int, **changes: Any) -> bytes:
    data = TaskRouted(
        task_id=derived_id("task", f"{team}-{n}"),
        source_event_id=f"{team}-{n}",
        source="/sources/support",
        team=team,
        rule="component:billing-ui",
        account="example.co.jp",
        priority=Priority.HIGH,
        component="billing-ui",
        subject=f"請求書の画面 #{n}",
        description="ボタンが見つかりません",
        requester_email="taro@example.co.jp",
        raised_at=RAISED,
        routed_at=RAISED,
        sla_due=RAISED + timedelta(hours=1),
    ).model_copy(update=changes)
    event_id = str(uuid.uuid4())
    return envelope(
        type_=TASK_ROUTED, source="/handoff/router", data=data, time=RAISED, event_id=event_id
    ).to_bytes()


def test_one_item_per_task_then_its_update_with_the_auth_header(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = f"tracker-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team)], 1)
    ensure_topics(kafka_bootstrap, [topics.SLA, topics.FEEDBACK], SHARED_PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for value in (
        routed(team, 0),
        routed(team, 1),
        routed(team, 0, priority=Priority.URGENT),
        b"not json",
    ):
        producer.send(topics.team_topic(team), key=b"example.co.jp", value=value).get(10)
    producer.close()
    monkeypatch.setenv("HANDOFF_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'api.db'}")
    monkeypatch.setenv("TRACKER_TOKEN", "s3cret-token")
    tracker = Origin(503, 201)  # refuses the first call, then takes all
    args = [
        "tracker",
        "consume",
        "--team",
        team,
        "--webhook",
        tracker.url,
        "--auth-env",
        "TRACKER_TOKEN",
        "--rules",
        "deploy/config/routing.yaml",
        "--idle-exit",
        "3",
    ]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        tracker.close()
    assert result.exit_code == 0, result.output
    assert [call[3] for call in tracker.calls][:2] == [503, 201]
    assert {call[1]["Authorization"] for call in tracker.calls} == {"Bearer s3cret-token"}
    items = [json.loads(body) for _, _, body, _ in tracker.delivered()]
    assert [(i["action"], i["external_id"]) for i in items] == [
        ("opened", derived_id("task", f"{team}-0")),
        ("opened", derived_id("task", f"{team}-1")),
        ("commented", derived_id("task", f"{team}-0")),
        ("updated", derived_id("task", f"{team}-0")),
    ]
    assert "Priority high → urgent" in items[2]["comment"]
    assert "priority:urgent" in items[3]["labels"]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets({f"handoff-tracker-{team}": None})[
            f"handoff-tracker-{team}"
        ]
    finally:
        admin.close()
    assert offsets[next(tp for tp in offsets if tp.topic == topics.team_topic(team))].offset == 4


def test_a_header_without_a_colon_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'api.db'}")
    args = [
        "tracker",
        "consume",
        "--team",
        "billing",
        "--webhook",
        "http://127.0.0.1:9/x",
        "--header",
        "Authorization Bearer x",
        "--rules",
        "deploy/config/routing.yaml",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "write it as 'Name: value'" in result.output
    assert "Bearer x" not in result.output  # the secret is not echoed
