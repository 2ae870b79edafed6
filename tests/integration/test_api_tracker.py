"""`handoff tracker consume`: a team's topic into a tracker webhook, committing after its 2xx."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from kafka import KafkaAdminClient, KafkaProducer

from schemas import topics
from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api.tracker import TrackerConfig, consume, webhook_sink
from services.kafka_admin import ensure_topics
from tests.receivers import Origin


def routed(team: str, n: int) -> bytes:
    raised = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    data = TaskRouted(
        task_id=derived_id("task", f"{team}-{n}"),
        source_event_id=f"{team}-{n}",
        source="/sources/support",
        team=team,
        rule="component:billing-ui",
        account="example.co.jp",
        priority="urgent",  # type: ignore[arg-type]
        component="billing-ui",
        subject=f"請求書の画面 #{n}",
        description="ボタンが見つかりません",
        requester_email="taro@example.co.jp",
        raised_at=raised,
        routed_at=raised,
        sla_due=raised + timedelta(hours=1),
    )
    return envelope(
        type_=TASK_ROUTED, source="/handoff/router", data=data, time=raised, event_id=str(n)
    ).to_bytes()


def test_tasks_reach_the_tracker_once_and_offsets_follow_its_2xx(kafka_bootstrap: str) -> None:
    team = f"tracker-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team)], 1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(2):
        producer.send(topics.team_topic(team), key=b"example.co.jp", value=routed(team, n)).get(10)
    producer.send(topics.team_topic(team), key=b"x", value=b"not json").get(10)
    producer.close()
    tracker = Origin(503, 201)  # a tracker's webhook: refuses the first call, then takes all
    group = f"tracker-test-{team}"
    config = TrackerConfig(
        bootstrap=kafka_bootstrap,
        team=team,
        group_id=group,
        idle_exit_s=3.0,
        backoff_initial_s=0.05,
    )
    try:
        handed = consume(config, webhook_sink(tracker.url.replace("/hook", "/issues")))
    finally:
        tracker.close()
    assert handed == 3  # two tasks and one dead letter
    assert [call[3] for call in tracker.calls] == [503, 201, 201]
    assert set(tracker.paths) == {"/issues"}
    issues = [json.loads(body) for _, _, body, _ in tracker.delivered()]
    assert [i["title"] for i in issues] == ["請求書の画面 #0", "請求書の画面 #1"]
    assert "priority:urgent" in issues[0]["labels"]
    assert issues[0]["external_id"] == derived_id("task", f"{team}-0")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    assert [o.offset for o in offsets.values()] == [3]
    # Running again hands over nothing: everything was committed.
    assert consume(config, webhook_sink("http://127.0.0.1:9/unused")) == 0
