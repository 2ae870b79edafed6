"""Callbacks: the signature, the helpdesk shapes, retries with backoff, the log, the DLQ,
and one attempt per claim when several deliverers share a database."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from schemas.dlq import DeadLetter
from services.api.callbacks import Deliverer, DeliveryPolicy, backoff_delay
from services.api.db import Delivery, DeliveryAttempt, Task, make_engine
from services.api.webhooks import signature, verify
from tests.unit.services.api.conftest import T0

SECRET = "0123456789abcdef-secret"
SOURCE = "/sources/zendesk"


@pytest.fixture
def make_routed(make_routed: Any) -> Any:
    """Requests from Zendesk, as ingest names them (a callback needs a known source)."""
    return lambda sid="zendesk-1", **o: make_routed(sid, **({"source": SOURCE} | o))


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))

    def close(self) -> None:
        pass


class FakeOrigin:
    """Answers ``statuses`` in turn (the last one forever), and records what it got."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.got: list[tuple[str, bytes, dict[str, str]]] = []
        self.methods: list[str] = []

    def __call__(
        self, method: str, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> int:
        self.methods.append(method)
        self.got.append((url, body, headers))
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def register(client: TestClient, fmt: str = "generic") -> None:
    response = client.put(
        "/v1/admin/callbacks",
        json={
            "source": SOURCE,
            "url": "http://127.0.0.1:9/hook",
            "secret": SECRET,
            "format": fmt,
        },
    )
    assert response.status_code == 200, response.text
    assert "secret" not in response.json()


def deliverer(engine: sa.Engine, origin: FakeOrigin, dlq: FakeDeadLetters, clock: Any) -> Deliverer:
    policy = DeliveryPolicy(max_attempts=4, backoff_initial_s=1.0, backoff_max_s=8.0)
    return Deliverer(engine, policy, dead_letters=dlq, clock=clock, post=origin, rand=lambda: 1.0)


def run_until_quiet(d: Deliverer, clock: Any, rounds: int = 10) -> None:
    for _ in range(rounds):
        d.run_once()
        clock.advance(10)


def test_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    sig = signature("k", 1700000000, b'{"a":1}')
    assert (
        sig == "sha256=" + __import__("hmac").new(b"k", b'1700000000.{"a":1}', "sha256").hexdigest()
    )
    assert verify("k", 1700000000, b'{"a":1}', sig)
    assert not verify("k", 1700000001, b'{"a":1}', sig)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = DeliveryPolicy(backoff_initial_s=1.0, backoff_max_s=10.0)
    assert [backoff_delay(n, policy, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert backoff_delay(3, policy, lambda: 0.0) == 2.0


def test_an_origin_failing_three_times_gets_the_update_once_on_the_fourth(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    register(client)
    task_id = add_task("zd-1")
    assert (
        client.post(f"/v1/tasks/{task_id}/resolve", json={"message": "直しました"}).status_code
        == 200
    )
    origin, dlq = FakeOrigin(500, 502, 503, 200), FakeDeadLetters()
    run_until_quiet(deliverer(engine, origin, dlq, clock), clock)

    assert len(origin.got) == 4
    keys = {headers["Idempotency-Key"] for _, _, headers in origin.got}
    assert len(keys) == 1  # one delivery, retried under one key
    url, body, headers = origin.got[-1]
    assert url == "http://127.0.0.1:9/hook"
    assert verify(SECRET, int(headers["X-Handoff-Timestamp"]), body, headers["X-Handoff-Signature"])
    update = json.loads(body)
    assert update["state"] == "resolved"
    assert update["message"] == "直しました"
    assert update["team"] == "billing-ui"
    assert dlq.sent == []
    detail = client.get(f"/v1/tasks/{task_id}").json()
    [delivery] = detail["deliveries"]
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["log"]] == [500, 502, 503, 200]
    assert delivery["log"][0]["error"] == "HTTP 500"
    # Feedback latency now runs to the origin's 2xx: raised 10 min before T0, 3 backoffs later.
    assert detail["feedback_delivered_at"] is not None
    assert detail["feedback_latency_s"] == 600.0 + 30.0


def test_an_origin_that_always_fails_ends_in_the_dead_letter_topic(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    register(client)
    task_id = add_task("zd-1")
    client.post(f"/v1/tasks/{task_id}/acknowledge", json={})
    origin, dlq = FakeOrigin(500), FakeDeadLetters()
    run_until_quiet(deliverer(engine, origin, dlq, clock), clock)

    assert len(origin.got) == 4
    [(key, value)] = dlq.sent
    assert key == b"example.co.jp"
    letter = DeadLetter.from_bytes(value)
    assert letter.error_type == "CallbackDeliveryFailed"
    assert "failed 4 times" in letter.reason
    assert json.loads(letter.original_value())["state"] == "acknowledged"
    with Session(engine) as session:
        delivery = session.scalars(sa.select(Delivery)).one()
        attempts = session.scalars(sa.select(DeliveryAttempt)).all()
    assert delivery.state == "dead"
    assert len(attempts) == 4


def test_backoff_waits_between_attempts(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    register(client)
    task_id = add_task("zd-1")
    client.post(f"/v1/tasks/{task_id}/acknowledge", json={})
    origin = FakeOrigin(500)
    d = deliverer(engine, origin, FakeDeadLetters(), clock)
    d.run_once()
    d.run_once()  # not due yet: nothing sent
    assert len(origin.got) == 1
    clock.advance(1)
    d.run_once()
    assert len(origin.got) == 2


def test_unregistered_sources_owe_nothing(
    client: TestClient, add_task: Any, engine: sa.Engine
) -> None:
    register(client)
    other = add_task("zd-2", source="/sources/elsewhere")
    assert client.post(f"/v1/tasks/{other}/acknowledge", json={}).status_code == 200
    with Session(engine) as session:
        assert session.scalars(sa.select(Delivery)).all() == []


@pytest.mark.parametrize(
    ("public", "zendesk_public"), [(None, False), (False, False), (True, True)]
)
def test_a_comment_reaches_the_origin_as_a_note_or_a_public_reply(
    client: TestClient, add_task: Any, engine: sa.Engine, public: bool | None, zendesk_public: bool
) -> None:
    register(client, "zendesk")
    task_id = add_task("zd-1", origin_event_id="zd-1", origin_ref="4711")
    body: dict[str, Any] = {"message": "再現しました"}
    if public is not None:
        body["public"] = public
    assert client.post(f"/v1/tasks/{task_id}/comments", json=body).status_code == 200
    with Session(engine) as session:
        delivery = session.scalars(sa.select(Delivery)).one()
    assert (delivery.task_state, delivery.origin_ref) == ("open", "4711")
    assert json.loads(delivery.body) == {
        "ticket": {"comment": {"body": "再現しました", "public": zendesk_public}}
    }  # issue 16.8: no status for a comment, no id or external_id (not handoff's fields)


def test_every_request_grouped_into_a_task_gets_the_answer(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    response = client.put(
        "/v1/admin/callbacks",
        json={
            "source": SOURCE,
            "url": "http://127.0.0.1:9/api/v2/tickets/{ticket_id}.json",
            "secret": SECRET,
            "format": "zendesk",
        },
    )
    assert response.status_code == 200, response.text
    first = add_task("zd-1", origin_event_id="zd-1", origin_ref="101")
    # two more requests joined the task: another Zendesk ticket, and one from a tool with no hook
    add_task("zd-1", origin_event_id="zd-2", origin_ref="102",
             raised_at=T0 - timedelta(minutes=5))  # fmt: skip
    add_task("zd-1", origin_event_id="ms-9", source="/sources/elsewhere",
             raised_at=T0 - timedelta(minutes=2))  # fmt: skip
    assert (
        client.post(f"/v1/tasks/{first}/resolve", json={"message": "直しました"}).status_code == 200
    )

    origin = FakeOrigin(200)
    run_until_quiet(deliverer(engine, origin, FakeDeadLetters(), clock), clock, rounds=2)
    got = sorted((url, json.loads(body)["ticket"]["status"]) for url, body, _ in origin.got)
    assert got == [
        ("http://127.0.0.1:9/api/v2/tickets/101.json", "solved"),
        ("http://127.0.0.1:9/api/v2/tickets/102.json", "solved"),
    ]
    assert origin.methods == ["PUT", "PUT"]  # the zendesk format's default
    assert len({headers["Idempotency-Key"] for _, _, headers in origin.got}) == 2
    detail = client.get(f"/v1/tasks/{first}").json()
    assert sorted(d["origin_ref"] for d in detail["deliveries"]) == ["101", "102"]
    assert {d["state"] for d in detail["deliveries"]} == {"delivered"}
    assert [(e["source_event_id"], e["ref"]) for e in detail["source_events"]] == [
        ("zd-1", "101"), ("zd-2", "102"), ("ms-9", None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "action", "body", "expected"),
    [
        (
            "zendesk",
            "resolve",
            {"message": "Fixed"},
            {"ticket": {"status": "solved", "comment": {"body": "Fixed", "public": True}}},
        ),
        (
            "zendesk",
            "acknowledge",
            {},
            {
                "ticket": {
                    "comment": {
                        "body": "handoff: the billing-ui team set this request to acknowledged.",
                        "public": False,
                    },
                }
            },
        ),
        (
            "freshdesk",
            "resolve",
            {"message": "Fixed"},
            {"status": 4, "body": "Fixed", "private": False},
        ),
        ("freshdesk", "reject", {"message": "No"}, {"status": 5, "body": "No", "private": False}),
    ],
)
def test_helpdesks_get_their_own_update_shape(
    client: TestClient,
    add_task: Any,
    engine: sa.Engine,
    fmt: str,
    action: str,
    body: dict[str, str],
    expected: dict[str, Any],
) -> None:
    register(client, fmt)
    task_id = add_task("zd-1")
    assert client.post(f"/v1/tasks/{task_id}/{action}", json=body).status_code == 200
    with Session(engine) as session:
        delivery = session.scalars(sa.select(Delivery)).one()
        task = session.get(Task, task_id)
    assert json.loads(delivery.body) == expected
    assert task is not None
    assert delivery.next_attempt_at <= task.updated_at + timedelta(seconds=0)  # type: ignore[operator]


def acknowledge_tasks(client: TestClient, add_task: Any, count: int) -> None:
    register(client)
    for n in range(count):
        task_id = add_task(f"zd-{n}")
        assert client.post(f"/v1/tasks/{task_id}/acknowledge", json={}).status_code == 200


def attempt_log(engine: sa.Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return [(a.delivery_id, a.attempt) for a in session.scalars(sa.select(DeliveryAttempt))]


def test_a_second_deliverer_does_not_post_what_the_first_is_posting(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    acknowledge_tasks(client, add_task, 1)
    second_origin = FakeOrigin(200)
    second = deliverer(engine, second_origin, FakeDeadLetters(), clock)
    rounds_during_post: list[int] = []

    def post_while_the_other_runs(*args: Any) -> int:
        rounds_during_post.append(second.run_once())  # the other process, mid-POST
        return 200

    first = Deliverer(
        engine, DeliveryPolicy(), dead_letters=FakeDeadLetters(), clock=clock,
        post=post_while_the_other_runs,
    )  # fmt: skip
    assert first.run_once() == 1
    assert rounds_during_post == [0]  # the claimed delivery was not due for the second
    assert second_origin.got == []
    clock.advance(3600)
    assert second.run_once() == 0  # delivered: never due again
    assert [attempt for _, attempt in attempt_log(engine)] == [1]


def test_two_deliverers_racing_on_one_database_post_each_delivery_once(
    client: TestClient, add_task: Any, engine: sa.Engine, db_url: str, clock: Any
) -> None:
    acknowledge_tasks(client, add_task, 20)
    origin = FakeOrigin(200)

    def slow_origin(*args: Any) -> int:
        time.sleep(0.002)  # long enough for the other deliverer to reach the same row
        return origin(*args)

    other_engine = make_engine(db_url)  # another process: its own connections
    deliverers = [
        Deliverer(e, DeliveryPolicy(), dead_letters=FakeDeadLetters(), clock=clock,
                  post=slow_origin)
        for e in (engine, other_engine)
    ]  # fmt: skip
    start = threading.Barrier(2)
    attempted: list[int] = []

    def deliver(d: Deliverer) -> None:
        start.wait()
        attempted.append(d.run_once())

    threads = [threading.Thread(target=deliver, args=(d,)) for d in deliverers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other_engine.dispose()

    keys = Counter(headers["Idempotency-Key"] for _, _, headers in origin.got)
    assert len(keys) == 20
    assert set(keys.values()) == {1}
    assert sorted(attempt_log(engine)) == sorted((key, 1) for key in keys)
    with Session(engine) as session:
        states = Counter(session.scalars(sa.select(Delivery.state)))
    assert states == {"delivered": 20}


class CrashError(Exception):
    """The process died mid-attempt."""


def test_a_delivery_claimed_by_a_process_that_died_is_retried_after_its_lease(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    acknowledge_tasks(client, add_task, 1)

    def die(*args: Any) -> int:
        raise CrashError

    policy = DeliveryPolicy()
    dying = Deliverer(engine, policy, dead_letters=FakeDeadLetters(), clock=clock, post=die)
    with pytest.raises(CrashError):
        dying.run_once()
    origin = FakeOrigin(200)
    survivor = Deliverer(engine, policy, dead_letters=FakeDeadLetters(), clock=clock, post=origin)
    clock.advance(policy.lease_s - 1)
    assert survivor.run_once() == 0  # still leased to the dead process
    clock.advance(1)
    assert survivor.run_once() == 1
    [(_, _, headers)] = origin.got
    assert headers["X-Handoff-Delivery-Attempt"] == "2"  # the lost attempt counts
    assert [attempt for _, attempt in attempt_log(engine)] == [2]
    with Session(engine) as session:
        assert session.scalars(sa.select(Delivery.state)).one() == "delivered"


def test_a_late_failure_does_not_reschedule_a_delivery_someone_else_claimed(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    acknowledge_tasks(client, add_task, 1)
    policy = DeliveryPolicy()
    origin = FakeOrigin(200)
    survivor = Deliverer(engine, policy, dead_letters=FakeDeadLetters(), clock=clock, post=origin)

    def stall_past_the_lease(*args: Any) -> int:
        clock.advance(policy.lease_s)
        survivor.run_once()  # the lease ran out: the other process retries, and succeeds
        return 503

    stalled = Deliverer(
        engine, policy, dead_letters=FakeDeadLetters(), clock=clock, post=stall_past_the_lease
    )
    stalled.run_once()
    assert len(origin.got) == 1
    assert sorted(attempt for _, attempt in attempt_log(engine)) == [1, 2]
    with Session(engine) as session:
        delivery = session.scalars(sa.select(Delivery)).one()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 2, None)
