"""`handoff tracker consume` into Jira, GitHub and Backlog: one issue per task, then updates.

Each vendor is a local server that checks method, path, auth and body against a
JSON Schema written from its API reference (cited in tests/vendors/*.py) and
answers as the vendor does: the first create is rate limited (Jira and GitHub:
429 with Retry-After; Backlog: 429 with X-RateLimit-Reset), the second is
stored but answered 503, so only a lookup by the task's marker prevents a
duplicate. The events cross the real broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.structs import TopicPartition

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import (
    SLA_AT_RISK,
    TASK_ROUTED,
    Priority,
    SlaSignal,
)
from services.api.tracker import TrackerConfig, consume
from services.api.tracker_store import TrackerStore, task_trackers
from services.api.tracker_sync import TeamSync
from services.connectors.config import ConnectorSpec
from services.connectors.registry import build_tracker
from services.core.backoff import BackoffPolicy
from services.kafka_admin import ensure_topics
from tests.processes import SHARED_PARTITIONS
from tests.team_events import RAISED, publish, routed_task
from tests.vendors.backlog import BacklogServer
from tests.vendors.github import GitHubServer
from tests.vendors.jira import JiraServer, adf_text, basic
from tests.vendors.server import VendorServer

ENV = {
    "JIRA_USER": "ops@example.co.jp",
    "JIRA_TOKEN": "jira-secret",
    "GH_TOKEN": "gh-secret",
    "BACKLOG_KEY": "backlog-secret",
}


def jira_cloud() -> tuple[VendorServer, ConnectorSpec]:
    server = JiraServer(api=3, project="BILL", auth=basic("ops@example.co.jp", "jira-secret"))
    options = {
        "url": server.url,
        "project": "BILL",
        "user_env": "JIRA_USER",
        "token_env": "JIRA_TOKEN",
    }
    return server, ConnectorSpec("jira-cloud", options)


def jira_server() -> tuple[VendorServer, ConnectorSpec]:
    server = JiraServer(api=2, project="BILL", auth="Bearer jira-secret")
    options = {"url": server.url, "project": "BILL", "token_env": "JIRA_TOKEN"}
    return server, ConnectorSpec("jira-server", options)


def github() -> tuple[VendorServer, ConnectorSpec]:
    server = GitHubServer(repository="acme/billing", token="gh-secret")
    options = {"url": server.url, "repository": "acme/billing", "token_env": "GH_TOKEN"}
    return server, ConnectorSpec("github", options)


def backlog() -> tuple[VendorServer, ConnectorSpec]:
    server = BacklogServer(project_key="BILL", project_id=12345, api_key="backlog-secret")
    options = {
        "url": server.url,
        "project_id": "12345",
        "issue_type_id": "7",
        "api_key_env": "BACKLOG_KEY",
    }
    return server, ConnectorSpec("backlog", options)


def comments_text(server: VendorServer) -> list[str]:
    found: list[str] = []
    for texts in server.comments.values():
        found += [adf_text(t) if isinstance(t, dict) else str(t) for t in texts]
    return found


@pytest.mark.parametrize("vendor", [jira_cloud, jira_server, github, backlog])
def test_one_issue_per_task_then_updates_through_rate_limits_and_5xx(
    vendor: Callable[[], tuple[VendorServer, ConnectorSpec]],
    kafka_bootstrap: str,
    sqlite_engine: Any,
) -> None:
    team = f"billing-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team)], 1)
    ensure_topics(kafka_bootstrap, [topics.SLA, topics.FEEDBACK], SHARED_PARTITIONS)
    first, second = routed_task(team, 1), routed_task(team, 2)
    joined = first.model_copy(update={"event_count": 2, "summary": "2 requests from 2 accounts"})
    urgent = joined.model_copy(
        update={"priority": Priority.URGENT, "acknowledge_by": RAISED + timedelta(hours=1)}
    )
    signal = SlaSignal(
        task_id=first.task_id, team=team, clock="acknowledge", due=RAISED + timedelta(hours=1)
    )
    team_topic = topics.team_topic(team)
    publish(
        kafka_bootstrap,
        [
            (team_topic, TASK_ROUTED, first),
            (team_topic, TASK_ROUTED, second),
            (team_topic, TASK_ROUTED, joined),
            (team_topic, TASK_ROUTED, urgent),
            (team_topic, TASK_ROUTED, urgent),  # a redelivery: changes nothing
        ],
    )
    server, spec = vendor()
    sleeps: list[float] = []
    tracker = build_tracker(spec, ENV)
    sync = TeamSync(
        team=team,
        tracker=tracker,
        store=TrackerStore(sqlite_engine, team, tracker.kind),
        clock=lambda: datetime.now(UTC),
        language="ja",
        attempts=4,
        policy=BackoffPolicy(0.01, 0.05),
        sleep=sleeps.append,
    )
    group = f"tracker-{team}"
    config = TrackerConfig(bootstrap=kafka_bootstrap, team=team, group_id=group, idle_exit_s=3.0)
    try:
        consume(config, sync)
        publish(kafka_bootstrap, [(topics.SLA, SLA_AT_RISK, signal)])  # hours later
        consume(config, sync)
    finally:
        server.close()
    assert server.violations == []
    assert len(server.issues) == 2  # exactly one per task
    assert sleeps[0] >= 0.5  # the vendor's own wait was honoured, not just our backoff
    texts = comments_text(server)
    assert any("依頼が2件になりました" in t for t in texts)
    assert any("優先度 high → urgent" in t for t in texts)
    assert any("SLA期限が迫っています" in t for t in texts)
    assert len(texts) == 3  # joined, priority/SLA change, SLA at risk: the redelivery added none
    assert sum(len(e) for e in server.edits.values()) == 1
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    assert offsets[next(tp for tp in offsets if tp.topic == team_topic)].offset == 5


def test_a_tracker_that_keeps_refusing_parks_the_task_in_the_dlq_with_the_reason(
    kafka_bootstrap: str, sqlite_engine: Any
) -> None:
    """GitHub answering 401 (a revoked token): not retried, parked with the vendor's answer."""
    team = f"billing-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topics.team_topic(team)], 1)
    ensure_topics(kafka_bootstrap, [topics.SLA, topics.FEEDBACK, topics.DLQ], SHARED_PARTITIONS)
    dlq = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=5000)
    # every partition: on the session's broker handoff.dlq may have more than one
    numbers = sorted(dlq.partitions_for_topic(topics.DLQ) or {0})
    partitions = [TopicPartition(topics.DLQ, n) for n in numbers]
    dlq.assign(partitions)
    dlq.seek_to_end(*partitions)
    for partition in partitions:
        dlq.position(partition)
    publish(kafka_bootstrap, [(topics.team_topic(team), TASK_ROUTED, routed_task(team, 1))])
    server = GitHubServer(repository="acme/billing", token="the-new-token")
    spec = ConnectorSpec(
        "github", {"url": server.url, "repository": "acme/billing", "token_env": "GH_TOKEN"}
    )
    tracker = build_tracker(spec, ENV)
    sync = TeamSync(
        team=team,
        tracker=tracker,
        store=TrackerStore(sqlite_engine, team, tracker.kind),
        clock=lambda: datetime.now(UTC),
        attempts=3,
        policy=BackoffPolicy(0.01, 0.05),
    )
    config = TrackerConfig(kafka_bootstrap, team, f"tracker-{team}", idle_exit_s=3.0)
    try:
        consume(config, sync)  # handoff.sla also holds other teams' signals: ignored
    finally:
        server.close()
    letters = [DeadLetter.model_validate_json(r.value) for r in dlq if r.value]
    dlq.close()
    [parked] = [d for d in letters if d.topic == topics.team_topic(team)]
    assert parked.error_type == "TrackerGaveUp"
    assert "HTTP 401" in parked.reason
    assert "after 1 attempt" in parked.reason
    assert len(server.requests) == 1  # a 401 is not worth a retry
    [shown] = task_trackers(sqlite_engine, routed_task(team, 1).task_id)  # on the task page
    assert (shown["state"], shown["last_error"]) == ("failed", parked.reason)
