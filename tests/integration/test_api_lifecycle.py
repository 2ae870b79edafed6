"""The whole lifecycle on the real broker and both databases, with a real origin receiver.

A routed task is projected, acknowledged, commented, resolved through the
API with a team token; the origin (an HTTP server in this test on 127.0.0.1)
receives every signed update; the delivery log and the latency figures agree
with what the receiver saw. A receiver failing three times gets the update
once on the fourth attempt; one that always fails ends in handoff.dlq.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import TASK_ROUTED, TaskRouted, derived_id, envelope
from services.api import auth
from services.api.app import create_app
from services.api.settings import ApiSettings
from services.api.webhooks import verify
from services.kafka_admin import ensure_handoff_topics
from tests.processes import start_group_at_end, wait_for
from tests.receivers import Origin

SECRET = "integration-secret-0123456789"


def end_offsets_reader(bootstrap: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    found = consumer.partitions_for_topic(topic)
    assert found, f"{topic} has no partitions"
    tps = [TopicPartition(topic, p) for p in sorted(found)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    return consumer


def read_matching(
    consumer: KafkaConsumer, match: Callable[[Any], bool], count: int, timeout: float = 30.0
) -> list[Any]:
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"found {len(found)} of {count} messages in {timeout} s")
        for records in consumer.poll(timeout_ms=200).values():
            found.extend(r for r in records if match(r))
    return found


@pytest.fixture(scope="module")
def bootstrap(kafka_bootstrap: str) -> str:
    ensure_handoff_topics(kafka_bootstrap, ["billing-ui"], 4)
    return kafka_bootstrap


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def api(bootstrap: str, database_url: str, engine: sa.Engine, run: str) -> Iterator[TestClient]:
    group = f"test-api-lifecycle-{run}"
    for topic in (topics.ROUTED, topics.SLA):  # what the projector reads: only what comes next
        start_group_at_end(bootstrap, group, topic)
    settings = ApiSettings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        api_consumer_group=group,
        api_auth="required",
        api_delivery_max_attempts=4,
        api_delivery_backoff_initial_s=0.05,
        api_delivery_backoff_max_s=0.2,
        api_delivery_poll_s=0.05,
        api_delivery_timeout_s=5,
    )
    app = create_app(settings, engine=engine, registry=CollectorRegistry())
    with TestClient(app) as client:
        yield client


def route_task(bootstrap: str, run: str, raised_at: datetime) -> tuple[str, str]:
    """Publish a task.routed for a new ticket; its task id and account."""
    source_event_id = f"zd-{run}"
    account = f"{run}.example.co.jp"
    data = TaskRouted(
        task_id=derived_id("task", source_event_id),
        source_event_id=source_event_id,
        source=f"/zendesk/{run}",
        team="billing-ui",
        rule="component:billing-ui",
        account=account,
        priority="high",  # type: ignore[arg-type]
        component="billing-ui",
        subject="請求書の画面が分かりにくい",
        description="支払い方法の変更ボタンが見つかりません",
        requester_email=f"taro@{account}",
        raised_at=raised_at,
        routed_at=raised_at + timedelta(seconds=1),
        sla_due=raised_at + timedelta(hours=4),
    )
    event = envelope(
        type_=TASK_ROUTED,
        source="/handoff/router",
        data=data,
        time=data.routed_at,
        event_id=derived_id("task.routed", source_event_id),
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        producer.send(topics.ROUTED, key=account.encode(), value=event.to_bytes()).get(timeout=10)
    finally:
        producer.close()
    return data.task_id, account


def tokens_for(engine: sa.Engine) -> tuple[dict[str, str], dict[str, str]]:
    now = datetime.now(UTC)
    team = auth.create_token(engine, team="billing-ui", scope="write", name="t", now=now).token
    admin = auth.create_token(engine, team=None, scope="admin", name="a", now=now).token
    return {"Authorization": f"Bearer {team}"}, {"Authorization": f"Bearer {admin}"}


def register(api: TestClient, admin: dict[str, str], run: str, url: str) -> None:
    response = api.put(
        "/v1/admin/callbacks",
        json={"source": f"/zendesk/{run}", "url": url, "secret": SECRET, "format": "generic"},
        headers=admin,
    )
    assert response.status_code == 200, response.text


def projected(api: TestClient, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = api.get(f"/v1/tasks/{task_id}", headers=headers)
        return response.json() if response.status_code == 200 else None

    return wait_for("the task in the API", probe)  # type: ignore[no-any-return]


def test_the_whole_lifecycle_reaches_the_origin_signed_and_measured(
    api: TestClient, bootstrap: str, engine: sa.Engine, run: str
) -> None:
    origin = Origin(200)
    feedback = end_offsets_reader(bootstrap, topics.FEEDBACK)
    try:
        team, admin = tokens_for(engine)
        raised = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        task_id, account = route_task(bootstrap, run, raised)
        task = projected(api, team, task_id)
        register(api, admin, run, origin.url)  # a source handoff has received requests from
        assert task["department"] == "support"  # the asking department: Zendesk speaks for support

        acked = api.post(
            f"/v1/tasks/{task_id}/acknowledge", json={"expected_version": 1}, headers=team
        )
        assert acked.status_code == 200, acked.text
        assert (
            api.post(
                f"/v1/tasks/{task_id}/comments", json={"message": "調査中です"}, headers=team
            ).status_code
            == 200
        )
        stale = api.post(
            f"/v1/tasks/{task_id}/resolve",
            json={"message": "x", "expected_version": 1},
            headers=team,
        )
        assert stale.status_code == 409
        resolved = api.post(
            f"/v1/tasks/{task_id}/resolve",
            json={"message": "修正をリリースしました", "expected_version": 3},
            headers=team,
        )
        assert resolved.status_code == 200, resolved.text

        # Every change is an event on handoff.feedback, keyed by the account.
        records = read_matching(
            feedback, lambda r: json.loads(r.value)["data"]["task_id"] == task_id, 4
        )
        assert [json.loads(r.value)["type"] for r in records] == [
            "task.acknowledged",
            "task.commented",
            "task.feedback",
            "task.resolved",
        ]
        assert {r.key for r in records} == {account.encode()}

        # The origin got both state changes and the comment (an internal note), signed, once each.
        wait_for("three deliveries", lambda: len(origin.delivered()) == 3)
        updates = []
        for _, headers, body, _ in origin.delivered():
            stamp = int(headers["X-Handoff-Timestamp"])
            assert abs(stamp - time.time()) < 60
            assert verify(SECRET, stamp, body, headers["X-Handoff-Signature"])
            update = json.loads(body)
            updates.append((update["event"], update["state"], update["public"]))
        assert updates == [
            ("task.acknowledged", "acknowledged", False),
            ("task.commented", "acknowledged", False),
            ("task.resolved", "resolved", True),
        ]
        assert json.loads(origin.delivered()[1][2])["message"] == "調査中です"
        answer = json.loads(origin.delivered()[2][2])
        assert answer["message"] == "修正をリリースしました"
        assert answer["team"] == "billing-ui"

        # The delivery log and the latency agree with what the origin saw.
        def detail_delivered() -> dict[str, Any] | None:
            body = api.get(f"/v1/tasks/{task_id}", headers=team).json()
            return body if body["feedback_delivered_at"] else None

        detail = wait_for("the delivered feedback", detail_delivered)
        assert [d["state"] for d in detail["deliveries"]] == ["delivered"] * 3
        assert all(
            len(d["log"]) == 1 and d["log"][0]["status_code"] == 200 for d in detail["deliveries"]
        )
        seen_at = origin.delivered()[2][0]
        measured = (seen_at - raised).total_seconds()
        assert detail["feedback_latency_s"] == pytest.approx(measured, abs=1.0)
        assert [e["type"] for e in detail["timeline"]] == [
            "task.acknowledged",
            "task.commented",
            "task.resolved",
        ]
        figures = api.get(
            "/v1/stats/figures",
            params={"department": "support", "team": "billing-ui", "since": raised.isoformat()},
            headers=team,
        ).json()["groups"]
        mine = [g for g in figures if g["department"] == "support"]  # zendesk asks for support
        assert mine[0]["feedback_latency"]["count"] >= 1
        assert mine[0]["feedback_latency"]["max_s"] >= measured - 1.0
    finally:
        feedback.close()
        origin.close()


def test_retries_deliver_once_and_a_dead_origin_ends_in_the_dlq(
    api: TestClient, bootstrap: str, engine: sa.Engine, run: str
) -> None:
    flaky = Origin(500, 500, 503, 200)
    dead = Origin(500)
    dlq = end_offsets_reader(bootstrap, topics.DLQ)
    try:
        team, admin = tokens_for(engine)
        dead_run = f"{run}-dead"
        raised = datetime.now(UTC) - timedelta(minutes=1)
        task_id, _ = route_task(bootstrap, run, raised)
        dead_task, dead_account = route_task(bootstrap, dead_run, raised)
        projected(api, team, task_id)
        projected(api, team, dead_task)
        register(api, admin, run, flaky.url)  # sources handoff has received requests from
        register(api, admin, dead_run, dead.url)
        for tid in (task_id, dead_task):
            response = api.post(f"/v1/tasks/{tid}/resolve", json={"message": "done"}, headers=team)
            assert response.status_code == 200, response.text

        wait_for("the fourth attempt", lambda: len(flaky.calls) >= 4)
        [letter_record] = read_matching(dlq, lambda r: r.key == dead_account.encode(), 1)
        letter = DeadLetter.from_bytes(letter_record.value)
        assert letter.error_type == "CallbackDeliveryFailed"
        assert "failed 4 times" in letter.reason
        assert dead_task in letter.reason
        assert json.loads(letter.original_value())["state"] == "resolved"
        time.sleep(0.5)  # nothing more may arrive
        assert [c[3] for c in flaky.calls] == [500, 500, 503, 200]
        assert len({c[1]["Idempotency-Key"] for c in flaky.calls}) == 1
        assert len(dead.calls) == 4

        log = api.get(f"/v1/tasks/{task_id}", headers=team).json()["deliveries"]
        assert [(d["state"], [a["status_code"] for a in d["log"]]) for d in log] == [
            ("delivered", [500, 500, 503, 200])
        ]
        dead_log = api.get(f"/v1/tasks/{dead_task}", headers=team).json()["deliveries"]
        assert [(d["state"], d["attempts"]) for d in dead_log] == [("dead", 4)]
        assert dead_log[0]["last_error"] == "HTTP 500"
    finally:
        dlq.close()
        flaky.close()
        dead.close()


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, event: Any, *, key: str) -> None:
        time.sleep(0.2)  # hold the transaction open: the other caller races it
        self.sent.append(event)

    def close(self) -> None:
        pass


def test_concurrent_changes_of_one_task_let_exactly_one_win(engine: sa.Engine, run: str) -> None:
    from services.api.db import insert_task_if_absent
    from services.api.errors import TaskNotOpenError, VersionConflictError
    from services.api.feedback import Change, change_task
    from services.api.projection import task_row

    raised = datetime.now(UTC) - timedelta(minutes=1)
    data = TaskRouted(
        task_id=f"t-{run}",
        source_event_id=f"e-{run}",
        source="/sources/support",
        team="billing-ui",
        rule="r",
        account="example.co.jp",
        priority="high",  # type: ignore[arg-type]
        component=None,
        subject="s",
        description="d",
        requester_email="taro@example.co.jp",
        raised_at=raised,
        routed_at=raised,
        sla_due=raised + timedelta(hours=1),
    )
    event = envelope(type_=TASK_ROUTED, source="/r", data=data, time=raised, event_id=run)
    with engine.begin() as conn:
        insert_task_if_absent(conn, task_row(event, projected_at=raised))
    publisher = _Recorder()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(action: str) -> None:
        barrier.wait()
        try:
            change_task(
                engine,
                data.task_id,
                Change(action, message="x", expected_version=1),
                publisher=publisher,
                clock=lambda: datetime.now(UTC),
            )
            outcomes.append("ok")
        except (VersionConflictError, TaskNotOpenError):
            outcomes.append("409")
        except sa.exc.OperationalError:
            outcomes.append("busy")  # SQLite's writer lock: the API answers 503, retry

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("resolve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) in (["409", "ok"], ["busy", "ok"])
    assert len(publisher.sent) in (1, 2)  # the winner's events only (resolve sends two)
    with engine.connect() as conn:
        version = conn.execute(
            sa.text("SELECT version FROM tasks WHERE task_id = :t"), {"t": data.task_id}
        ).scalar_one()
    assert version == 2
