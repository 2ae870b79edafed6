"""The way back on the real broker and both databases: a tracker's signed webhook closes the
issue -> ingest -> handoff.tracker -> `tracker apply` -> the task is resolved through the
API's lifecycle -> the origin (a local receiver) gets the answer, once.

For Jira (moved to Done with a comment), GitHub (closed after an untagged comment,
which becomes the answer) and Backlog (set to Closed with a comment). A forged
webhook is refused 401 and changes nothing; the same webhook delivered twice
answers the origin once. Payloads from the vendors' documentation (tests/vendors/webhooks.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import TASK_ROUTED, Priority, TaskRouted, derived_id, envelope
from services.api import auth
from services.api.app import create_app as create_api
from services.api.feedback import KafkaFeedbackPublisher
from services.api.settings import ApiSettings
from services.api.tracker_apply import Applier, ApplyConfig, run_applier
from services.ingest.app import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.kafka_admin import ensure_handoff_topics
from tests.processes import SHARED_PARTITIONS, start_group_at_end, wait_for
from tests.receivers import Origin
from tests.vendors import webhooks as hooks

SECRETS = {"jira": "jira-hook-secret", "github": "gh-hook-secret", "backlog": "bl-path-secret"}
Post = Callable[[TestClient, str, datetime], list[int]]


def jira(client: TestClient, task_id: str, at: datetime) -> list[int]:
    body = hooks.to_bytes(hooks.jira_done(task_id, at, "#requester ボタンを画面上部に移動しました"))
    good = {
        "Content-Type": "application/json",
        "X-Hub-Signature": hooks.hub_signature(b"jira-hook-secret", body),
    }
    forged = {**good, "X-Hub-Signature": hooks.hub_signature(b"guess", body)}
    return [
        client.post("/v1/trackers/jira/webhooks", content=body, headers=h).status_code
        for h in (forged, good, good)
    ]


def github(client: TestClient, task_id: str, at: datetime) -> list[int]:
    note = hooks.to_bytes(hooks.github_comment(task_id, at, "ボタンを画面上部に移動しました"))
    closed = hooks.to_bytes(hooks.github_issues(task_id, at + timedelta(seconds=1), "closed"))
    url, secret = "/v1/trackers/github/webhooks", b"gh-hook-secret"
    return [
        client.post(
            url, content=closed, headers=hooks.github_headers("issues", b"guess", closed)
        ).status_code,
        client.post(
            url, content=note, headers=hooks.github_headers("issue_comment", secret, note)
        ).status_code,
        client.post(
            url, content=closed, headers=hooks.github_headers("issues", secret, closed)
        ).status_code,
        client.post(
            url, content=closed, headers=hooks.github_headers("issues", secret, closed)
        ).status_code,
    ]


def backlog(client: TestClient, task_id: str, at: datetime) -> list[int]:
    body = hooks.to_bytes(hooks.backlog_closed(task_id, at, "ボタンを画面上部に移動しました"))
    headers = {"Content-Type": "application/json"}
    urls = [
        "/v1/trackers/backlog/webhooks/guess",
        *["/v1/trackers/backlog/webhooks/bl-path-secret"] * 2,
    ]
    return [client.post(url, content=body, headers=headers).status_code for url in urls]


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    ensure_handoff_topics(kafka_bootstrap, ["billing-ui"], SHARED_PARTITIONS)
    return kafka_bootstrap


@pytest.fixture
def api(bootstrap: str, database_url: str, engine: sa.Engine) -> Iterator[TestClient]:
    group = f"test-tracker-way-back-{uuid.uuid4().hex[:8]}"
    for topic in (topics.ROUTED, topics.SLA):  # what the projector reads: only what comes next
        start_group_at_end(bootstrap, group, topic)
    settings = ApiSettings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        api_consumer_group=group,
        api_auth="required",
        api_delivery_poll_s=0.05,
        api_delivery_backoff_initial_s=0.05,
    )
    with TestClient(create_api(settings, engine=engine, registry=CollectorRegistry())) as client:
        yield client


def route_task(bootstrap: str, ticket: str, raised: datetime) -> str:
    data = TaskRouted(
        task_id=derived_id("task", ticket),
        source_event_id=ticket,
        source="/sources/zendesk",
        team="billing-ui",
        rule="component:billing-ui",
        account="example.co.jp",
        priority=Priority.HIGH,
        component="billing-ui",
        subject="請求書の画面がわかりにくい",
        description="ボタンが見つかりません",
        requester_email="taro@example.co.jp",
        raised_at=raised,
        routed_at=raised,
        sla_due=raised + timedelta(hours=4),
        origin_ref=ticket,
    )
    event = envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=data,
        time=raised,
        event_id=derived_id("routed", ticket),
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topics.ROUTED, key=b"example.co.jp", value=event.to_bytes()).get(10)
    producer.close()
    return data.task_id


@pytest.mark.parametrize("vendor", [jira, github, backlog])
def test_closing_the_issue_answers_the_origin_once(
    vendor: Post, api: TestClient, bootstrap: str, engine: sa.Engine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    team = auth.create_token(engine, team="billing-ui", scope="write", name="t", now=now).token
    admin = auth.create_token(engine, team=None, scope="admin", name="a", now=now).token
    origin = Origin(200)
    callback = {
        "source": "/sources/zendesk",
        "url": origin.url,
        "secret": "integration-secret-0123456789",
    }
    assert (
        api.put(
            "/v1/admin/callbacks", json=callback, headers={"Authorization": f"Bearer {admin}"}
        ).status_code
        == 200
    )
    task_id = route_task(bootstrap, f"ZD-{uuid.uuid4().hex[:8]}", now - timedelta(minutes=30))
    headers = {"Authorization": f"Bearer {team}"}
    wait_for(
        "the task in the API",
        lambda: api.get(f"/v1/tasks/{task_id}", headers=headers).status_code == 200,
    )
    group = f"tracker-apply-{uuid.uuid4().hex[:8]}"
    start_group_at_end(bootstrap, group, topics.TRACKER)
    secrets = {f"ingest_tracker_secret_{k}": v for k, v in SECRETS.items()}
    settings = IngestSettings.model_validate({"kafka_bootstrap": bootstrap, **secrets})
    try:
        with TestClient(create_ingest(settings, registry=CollectorRegistry())) as ingest:
            statuses = vendor(ingest, task_id, now)
        assert statuses[0] == 401
        assert set(statuses[1:]) == {202}
        publisher = KafkaFeedbackPublisher(bootstrap)
        try:
            run_applier(
                ApplyConfig(bootstrap, group_id=group, idle_exit_s=3.0), Applier(engine, publisher)
            )
        finally:
            publisher.close()
        task = api.get(f"/v1/tasks/{task_id}", headers=headers).json()
        assert task["state"] == "resolved"
        assert task["resolution"] == "ボタンを画面上部に移動しました"
        answered = wait_for(
            "the answer at the origin", lambda: _answers(origin, task_id), timeout=20
        )
    finally:
        origin.close()
    assert len(answered) == 1, [a.get("event") for a in answered]  # redelivery: no second answer


def _answers(origin: Origin, task_id: str) -> list[dict[str, Any]]:
    """The answers (task.resolved) the origin got; an untagged note reaches it only as a
    non-public comment (a Zendesk internal note), never as the answer."""
    bodies = [json.loads(body) for _, _, body, _ in origin.delivered()]
    mine = [b for b in bodies if b.get("task_id") == task_id]
    assert all(b.get("public") is not True for b in mine if b.get("event") == "task.commented")
    return [
        b
        for b in mine
        if b.get("event") == "task.resolved"
        and "ボタンを画面上部に移動しました" in json.dumps(b, ensure_ascii=False)
    ]
