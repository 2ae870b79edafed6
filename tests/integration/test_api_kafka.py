"""The API against the real broker and both databases.

The projector turns task.routed events into rows (once, whatever the
redelivery), parks garbage on the dead-letter topic and keeps going, keeps
messages while the database is down; resolving publishes task.feedback.
Other tests share the broker: every test uses its own ids, keys and
consumer group, and starts its group at the end of the topic.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import TASK_ROUTED, CloudEvent, TaskFeedback, TaskRouted, derived_id, envelope
from services.api.app import create_app
from services.api.db import TASKS, insert_task_if_absent, make_engine, upgrade
from services.api.feedback import KafkaFeedbackPublisher
from services.api.metrics import ApiMetrics
from services.api.projection import task_row
from services.api.projector import KafkaDeadLetters, Projector, ProjectorConfig
from services.api.settings import ApiSettings
from services.core.identity import account_from_email
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from tests.processes import start_group_at_end

PARTITIONS = 4


# --- helpers -------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


def routed(run: str, n: int, *, raised_at: datetime, **overrides: Any) -> CloudEvent:
    source_event_id = f"zendesk-{run}-{n}"
    fields: dict[str, Any] = {
        "task_id": derived_id("task", source_event_id),
        "source_event_id": source_event_id,
        "source": "/zendesk/acme",
        "team": "billing-ui",
        "rule": "component:billing-ui",
        "account": account_from_email(f"taro@{run}.example.co.jp"),
        "priority": "high",
        "component": "billing-ui",
        "subject": f"請求書の画面が分かりにくい #{n}",
        "description": "支払い方法の変更ボタンが見つかりません。よろしくお願いします 🙏",
        "requester_email": f"taro@{run}.example.co.jp",
        "raised_at": raised_at,
        "routed_at": raised_at + timedelta(seconds=1),
        "sla_due": raised_at + timedelta(hours=4),
    }
    fields.update(overrides)
    data = TaskRouted.model_validate(fields)
    return envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=data,
        time=data.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )


def partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        found = consumer.partitions_for_topic(topic)
        assert found, f"topic {topic} has no partitions"
        return [TopicPartition(topic, p) for p in sorted(found)]
    finally:
        consumer.close()


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return {tp: o.offset for tp, o in offsets.items()}


class TailReader:
    """Reads a topic from its end at creation time; ``until`` polls for matching messages."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        tps = partitions(bootstrap, topic)
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)  # resolve the end now, before anything is produced

    def until(
        self, match: Callable[[Any], bool], count: int = 1, timeout: float = 30.0
    ) -> list[Any]:
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"found {len(found)} of {count} messages in {timeout} s")
            for records in self.consumer.poll(timeout_ms=200).values():
                found.extend(r for r in records if match(r))
        return found

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    ensure_handoff_topics(kafka_bootstrap, ["billing-ui"], PARTITIONS)
    return kafka_bootstrap


@pytest.fixture
def producer(bootstrap: str) -> Iterator[KafkaProducer]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    yield producer
    producer.close()


def send(producer: KafkaProducer, key: bytes | None, value: bytes) -> None:
    producer.send(topics.ROUTED, key=key, value=value).get(timeout=10)


def send_event(producer: KafkaProducer, event: CloudEvent) -> None:
    send(producer, event.data["account"].encode(), event.to_bytes())


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def group(bootstrap: str, run_id: str) -> str:
    name = f"test-api-projector-{run_id}"
    for topic in (topics.ROUTED, topics.SLA):  # what the projector reads: only what comes next
        start_group_at_end(bootstrap, name, topic)
    return name


@pytest.fixture
def projector(engine: sa.Engine, bootstrap: str, group: str) -> Iterator[Projector]:
    projector = Projector(
        engine,
        ProjectorConfig(
            bootstrap=bootstrap,
            group_id=group,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        ),
        metrics=ApiMetrics(CollectorRegistry()),
        dead_letters=KafkaDeadLetters(bootstrap, ack_timeout_s=10),
    )
    yield projector
    projector.stop()


def stored(engine: sa.Engine, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(TASKS).where(TASKS.c.task_id.in_(task_ids))).mappings()
        return {r["task_id"]: dict(r) for r in rows}


# --- the projector -------------------------------------------------------------------------------


def test_projector_stores_each_task_once_and_dead_letters_garbage(
    bootstrap: str,
    producer: KafkaProducer,
    projector: Projector,
    engine: sa.Engine,
    group: str,
    run_id: str,
) -> None:
    raised = datetime(2025, 3, 3, 18, 0, tzinfo=UTC)
    events = [routed(run_id, n, raised_at=raised + timedelta(minutes=n)) for n in range(3)]
    task_ids = [e.data["task_id"] for e in events]
    garbage_key = f"garbage-{run_id}".encode()
    garbage = b"\xff\xfe{not json \xe5\xa3\x8a"
    wrong_type = CloudEvent(
        id=f"wrong-{run_id}", source="/test", type="support.ticket", time=raised, data={}
    )
    dlq = TailReader(bootstrap, topics.DLQ)
    try:
        projector.start()
        send_event(producer, events[0])
        send_event(producer, events[0])  # redelivered: still one row
        send(producer, garbage_key, garbage)
        send(producer, garbage_key, wrong_type.to_bytes())
        send_event(producer, events[1])
        send_event(producer, events[2])

        wait_for(lambda: len(stored(engine, task_ids)) == 3, what="three rows")
        letters = dlq.until(lambda r: r.key == garbage_key, count=2)
    finally:
        dlq.close()

    rows = stored(engine, task_ids)
    for event in events:
        row = rows[event.data["task_id"]]
        assert row["subject"] == event.data["subject"]
        assert row["description"].endswith("🙏")
        assert row["state"] == "open"
        assert row["raised_at"] == datetime.fromisoformat(event.data["raised_at"])
        assert row["raised_at"].tzinfo is UTC
    first, second = (json.loads(letter.value) for letter in letters)
    assert first["topic"] == topics.ROUTED
    assert first["service"] == "api"
    assert first["error_type"] == "InvalidCloudEvent"
    assert "Invalid JSON" in first["reason"]
    assert base64.b64decode(first["value_b64"]) == garbage
    assert first["key"] == garbage_key.decode()
    assert second["error_type"] == "UnexpectedEventType"
    assert "'support.ticket'" in second["reason"]
    assert second["offset"] > first["offset"] or second["partition"] != first["partition"]

    wait_for(lambda: projector.processed["duplicate"] >= 1, what="the duplicate counted")
    # a letter is on the topic once sent; the projector's thread counts it just after
    wait_for(lambda: projector.processed["dead_lettered"] >= 2, what="both letters counted")
    assert projector.processed["inserted"] == 3
    assert projector.processed["dead_lettered"] == 2
    assert projector.is_alive()


def test_projector_keeps_messages_while_the_database_is_down(
    bootstrap: str,
    producer: KafkaProducer,
    projector: Projector,
    engine: sa.Engine,
    group: str,
    run_id: str,
) -> None:
    start = committed(bootstrap, group)
    down = threading.Event()

    def fail_while_down(*_: Any) -> None:
        if down.is_set():
            raise sa.exc.OperationalError("INSERT", {}, Exception("database unreachable"))

    sa.event.listen(engine, "before_cursor_execute", fail_while_down)
    try:
        down.set()
        event = routed(run_id, 0, raised_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
        projector.start()
        send_event(producer, event)
        wait_for(lambda: projector.retries["database"] >= 3, what="database retries")
        assert committed(bootstrap, group) == start  # the message is kept
        assert projector.processed["inserted"] == 0

        down.clear()
        wait_for(lambda: projector.processed["inserted"] == 1, what="the row after recovery")
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_while_down)
    assert list(stored(engine, [event.data["task_id"]])) == [event.data["task_id"]]

    def advanced_by_one() -> bool:
        now = committed(bootstrap, group)
        return sum(now.values()) == sum(start.values()) + 1

    wait_for(advanced_by_one, what="offset committed after the row")


# --- the whole API -------------------------------------------------------------------------------


def test_resolving_publishes_feedback_and_the_latency_shows(
    bootstrap: str,
    producer: KafkaProducer,
    engine: sa.Engine,
    database_url: str,
    group: str,
    run_id: str,
) -> None:
    raised = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    event = routed(run_id, 0, raised_at=raised, team="billing-ui")
    task_id = event.data["task_id"]
    settings = ApiSettings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        api_projector=True,
        api_consumer_group=group,
        api_consumer_session_timeout_ms=6000,
        api_auth="off",
    )
    registry = CollectorRegistry()
    feedback = TailReader(bootstrap, topics.FEEDBACK)
    publisher = KafkaFeedbackPublisher(bootstrap, ack_timeout_s=10)
    app = create_app(settings, engine=engine, publisher=publisher, registry=registry)
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").json()["checks"]["projector"] == "ok"
            send_event(producer, event)
            wait_for(
                lambda: client.get(f"/v1/tasks/{task_id}").status_code == 200, what="task via API"
            )
            queue = client.get("/v1/teams/billing-ui/tasks", params={"state": "all", "limit": 500})
            assert task_id in [t["task_id"] for t in queue.json()["tasks"]]

            response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "修正済みです"})
            assert response.status_code == 200, response.text
            resolved = response.json()
            assert resolved["state"] == "resolved"

            message, lifecycle = feedback.until(
                lambda r: r.key == event.data["account"].encode(), count=2
            )
            assert CloudEvent.from_bytes(lifecycle.value).type == "task.resolved"
            sent = CloudEvent.from_bytes(message.value)
            assert sent.id == derived_id("task.feedback", task_id)
            assert sent.type == "task.feedback"
            data = TaskFeedback.model_validate(sent.data)
            assert data.task_id == task_id
            assert data.message == "修正済みです"
            assert data.raised_at == raised
            assert (
                data.answered_at.isoformat()
                == datetime.fromisoformat(resolved["resolved_at"]).isoformat()
            )

            again = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "again"})
            assert again.status_code == 409

            stats = client.get("/v1/stats/feedback-latency", params={"team": "billing-ui"}).json()
            latency = resolved["feedback_latency_s"]
            assert 15 * 60 <= latency < 15 * 60 + 60
            assert stats["teams"]["billing-ui"]["count"] >= 1
            assert stats["teams"]["billing-ui"]["max_s"] >= latency
            teams = {t["team"]: t for t in client.get("/v1/teams").json()["teams"]}
            assert teams["billing-ui"]["resolved"] >= 1
            text = client.get("/metrics").text
            assert 'handoff_api_tasks_projected_total{outcome="inserted"}' in text
            assert 'handoff_api_tasks_resolved_total{team="billing-ui"} 1.0' in text
    finally:
        feedback.close()
        publisher.close()


@pytest.mark.usefixtures("collect_kafka_python_leaks")
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_an_unreachable_broker_is_a_503_and_the_task_stays_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    event = routed("down", 0, raised_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    with engine.begin() as conn:
        insert_task_if_absent(conn, task_row(event, projected_at=datetime.now(UTC)))
    publisher = KafkaFeedbackPublisher(f"127.0.0.1:{free_port()}", ack_timeout_s=1.0)
    settings = ApiSettings(
        database_url=url, api_projector=False, api_delivery=False, api_auth="off"
    )
    try:
        with TestClient(create_app(settings, engine=engine, publisher=publisher)) as client:
            task_id = event.data["task_id"]
            response = client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "x"})
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert client.get(f"/v1/tasks/{task_id}").json()["state"] == "open"
    finally:
        publisher.close()
        engine.dispose()
