from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import CloudEvent, derived_id
from services.api import rollups
from services.api.db import TASK_EVENTS, TASKS
from services.api.errors import InvalidEventError
from services.api.metrics import ApiMetrics
from services.api.producer import PublishError
from services.api.projection import dead_letter, decode_event, task_row
from services.api.projector import Projector, ProjectorConfig, RetryLaterError
from services.api.projector_writes import (
    DEAD_LETTERED,
    DUPLICATE,
    INSERTED,
    REASSIGNED,
    REOPENED,
    UPDATED,
)
from services.api.repository import SqlTaskRepository

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TP = TopicPartition(topics.ROUTED, 0)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def record(value: bytes | None, offset: int = 0, key: bytes | None = b"example.co.jp") -> Record:
    return Record(topics.ROUTED, 0, offset, key, value)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, dict[str, Any]]] = []
        self.down = False
        self.closed = False

    def send(self, key: bytes | None, value: bytes) -> None:
        if self.down:
            raise PublishError(topics.DLQ, "broker down")
        self.sent.append((key, json.loads(value)))

    def close(self) -> None:
        self.closed = True


class FakeConsumer:
    """kafka-python's consumer, as far as the projector uses it: one partition, in memory."""

    def __init__(self, values: list[bytes | None]) -> None:
        self.records = [record(v, offset=i) for i, v in enumerate(values)]
        self.position = 0
        self.commits: list[int] = []
        self.closed = False

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if self.position >= len(self.records):
            time.sleep(timeout_ms / 1000)
            return {}
        batch = self.records[self.position :]
        self.position = len(self.records)
        return {TP: batch}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp == TP
        self.position = offset

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append(offsets[TP].offset)

    def close(self, autocommit: bool = True) -> None:
        assert autocommit is False
        self.closed = True


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def dead_letters() -> FakeDeadLetters:
    return FakeDeadLetters()


MakeProjector = Callable[..., Projector]


@pytest.fixture
def make_projector(engine: sa.Engine, dead_letters: FakeDeadLetters) -> Iterator[MakeProjector]:
    """Factory: a projector reading from ``consumer`` (a FakeConsumer); stopped at teardown."""
    made: list[Projector] = []

    def make(consumer: FakeConsumer | None = None) -> Projector:
        projector = Projector(
            engine,
            ProjectorConfig(
                bootstrap="unused:9092",
                group_id="g",
                poll_timeout_ms=10,
                backoff_initial_s=0.01,
                backoff_max_s=0.02,
            ),
            metrics=ApiMetrics(CollectorRegistry()),
            dead_letters=dead_letters,
            clock=lambda: AT,
            consumer_factory=lambda _config: consumer or FakeConsumer([]),
        )
        made.append(projector)
        return projector

    yield make
    for projector in made:
        projector.stop()


@pytest.fixture
def projector(make_projector: MakeProjector) -> Projector:
    return make_projector()


@pytest.fixture
def database_down(engine: sa.Engine) -> Iterator[threading.Event]:
    """While set, every statement fails as if the database were unreachable."""
    down = threading.Event()

    def fail(*_: Any) -> None:
        if down.is_set():
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

    sa.event.listen(engine, "before_cursor_execute", fail)
    yield down
    sa.event.remove(engine, "before_cursor_execute", fail)


def rows(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(TASKS.c.task_id, TASKS.c.subject))]


# --- the pure mapping --------------------------------------------------------------------------


def test_task_row_maps_every_field_and_keeps_japanese(make_routed: Any) -> None:
    event = make_routed("zd-1")
    row = task_row(event, projected_at=AT)
    assert row["task_id"] == derived_id("task", "zd-1")
    assert row["source_event_id"] == "zd-1"
    assert row["team"] == "billing-ui"
    assert row["priority"] == "high"
    assert row["subject"] == "請求書の画面が分かりにくい"
    assert row["state"] == "open"
    assert row["version"] == 1
    assert row["projected_at"] == AT
    assert row["resolved_at"] is None
    assert row["feedback_latency_s"] is None
    assert all(row[k].tzinfo is UTC for k in ("raised_at", "routed_at", "sla_due", "projected_at"))


def test_task_row_converts_offsets_to_utc(make_routed: Any) -> None:
    tokyo = datetime.fromisoformat("2025-03-03T18:00:00+09:00")
    row = task_row(make_routed("zd-2", raised_at=tokyo), projected_at=AT)
    assert row["raised_at"] == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert row["raised_at"].tzinfo is UTC


def routed_event(**data_overrides: Any) -> CloudEvent:
    data: dict[str, Any] = {
        "task_id": "t-1",
        "source_event_id": "e-1",
        "source": "/zendesk",
        "team": "billing-ui",
        "rule": "component:billing-ui",
        "account": "example.co.jp",
        "priority": "normal",
        "component": None,
        "subject": "s",
        "description": "",
        "requester_email": "a@example.co.jp",
        "raised_at": "2025-03-03T09:00:00Z",
        "routed_at": "2025-03-03T09:00:01Z",
        "sla_due": "2025-03-03T13:00:00Z",
    }
    data.update(data_overrides)
    return CloudEvent(id="x", source="/test", type="task.routed", time=AT, data=data)


@pytest.mark.parametrize(
    ("event", "error_type", "reason"),
    [
        (
            CloudEvent(id="x", source="/t", type="support.ticket", time=AT, data={}),
            "UnexpectedEventType",
            "'support.ticket' is not 'task.routed'",
        ),
        (routed_event(team=None), "InvalidTaskRouted", "team"),
        (routed_event(priority="whenever"), "InvalidTaskRouted", "priority"),
        (routed_event(raised_at="2025-03-03T09:00:00"), "InvalidTaskRouted", "raised_at"),
        (routed_event(extra="field"), "InvalidTaskRouted", "extra"),
        (routed_event(team="Billing UI"), "InvalidTaskRouted", "data.team"),
        (routed_event(team="a" * 64), "InvalidTaskRouted", "data.team"),
        (routed_event(task_id="../etc"), "InvalidTaskRouted", "data.task_id"),
        (routed_event(task_id="t" * 129), "InvalidTaskRouted", "data.task_id"),
        (routed_event(component="c" * 65), "InvalidTaskRouted", "data.component: longer than 64"),
        (routed_event(subject="nul\x00byte"), "InvalidTaskRouted", "data.subject: contains a NUL"),
        (routed_event(description="\ud800"), "InvalidTaskRouted", "data.description: not valid"),
        (
            routed_event(sla_due="9999-12-31T23:00:00-05:00"),
            "InvalidTaskRouted",
            "data.sla_due: out of range",
        ),
    ],
)
def test_task_row_refuses_what_cannot_be_a_task(
    event: CloudEvent, error_type: str, reason: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        task_row(event, projected_at=AT)
    assert caught.value.error_type == error_type
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "message has no value"),
        (b"\xff\xfe not json", "not a CloudEvent: (message): Invalid JSON"),
        (b"", "Invalid JSON"),
        (b"[1, 2]", "not a CloudEvent"),
        (b'{"id": "x"}', "source: Field required"),
    ],
)
def test_decode_event_says_why_a_message_is_not_an_event(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_event(value)
    assert reason in caught.value.reason


def test_decode_event_reads_utf8_cloudevents(make_routed: Any) -> None:
    event = make_routed("zd-3")
    assert decode_event(event.to_bytes()) == event


def test_dead_letter_carries_reason_origin_and_the_exact_bytes() -> None:
    value = "壊".encode() + b"\xff{"  # not valid UTF-8
    letter = json.loads(
        dead_letter(record(value, offset=41, key=b"acme.com"), reason="bad", error_type="X", at=AT)
    )
    assert letter == {
        "reason": "bad",
        "error_type": "X",
        "topic": topics.ROUTED,
        "partition": 0,
        "offset": 41,
        "key": "acme.com",
        "value": "壊\ufffd{",
        "value_b64": base64.b64encode(value).decode(),
        "service": "api",
        "at": "2025-03-03T09:00:00Z",
    }
    assert base64.b64decode(letter["value_b64"]) == value


def test_dead_letter_of_an_empty_message() -> None:
    letter = json.loads(dead_letter(record(None, key=None), reason="r", error_type="E", at=AT))
    assert letter["key"] is None
    assert letter["value"] == ""
    assert letter["value_b64"] == ""


# --- one message --------------------------------------------------------------------------------


def test_handle_inserts_once_then_counts_duplicates(
    projector: Projector, engine: sa.Engine, make_routed: Any
) -> None:
    value = make_routed("zd-4").to_bytes()
    assert projector.handle(record(value, 0)) == INSERTED
    assert projector.handle(record(value, 1)) == DUPLICATE
    assert rows(engine) == [(derived_id("task", "zd-4"), "請求書の画面が分かりにくい")]
    assert projector.processed == {INSERTED: 1, DUPLICATE: 1}


def test_a_reassignment_moves_the_deadlines_only_while_the_task_is_with_that_team(
    projector: Projector, engine: sa.Engine
) -> None:
    assert projector.handle(record(routed_event().to_bytes(), 0)) == INSERTED
    with engine.begin() as conn:  # the API took the handover
        conn.execute(sa.update(TASKS).values(team="identity", state="reassigned"))
    moved = routed_event(
        team="identity",
        reassigned_from="billing-ui",
        sla_due="2025-03-03T15:00:00Z",
        acknowledge_by="2025-03-03T15:00:00Z",
    )
    assert projector.handle(record(moved.to_bytes(), 1)) == REASSIGNED
    late = routed_event(
        team="billing-ui", reassigned_from="platform", sla_due="2025-03-04T09:00:00Z"
    )  # a handover the API has since moved past
    assert projector.handle(record(late.to_bytes(), 2)) == DUPLICATE
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(TASKS.c.team, TASKS.c.sla_due, TASKS.c.acknowledge_by))
    due = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    assert tuple(row) == ("identity", due, due)


def test_a_reopened_task_takes_its_fresh_deadlines(projector: Projector, engine: sa.Engine) -> None:
    assert projector.handle(record(routed_event().to_bytes(), 0)) == INSERTED
    with engine.begin() as conn:  # the API reopened it
        conn.execute(sa.update(TASKS).values(state="reopened"))
    back = routed_event(
        reopened_at="2025-03-05T09:00:00Z",
        sla_due="2025-03-05T10:00:00Z",
        acknowledge_by="2025-03-05T10:00:00Z",
    )
    assert projector.handle(record(back.to_bytes(), 1)) == REOPENED
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(TASKS.c.sla_due, TASKS.c.acknowledge_by))
    due = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)
    assert tuple(row) == (due, due)


def test_a_task_the_router_answered_is_stored_resolved_with_its_latency(
    projector: Projector, engine: sa.Engine
) -> None:
    answered = routed_event(
        answered_at="2025-03-03T09:00:00.800Z", answer="feasible, earliest date 2025-03-20"
    )  # raised at 09:00:00
    assert projector.handle(record(answered.to_bytes(), 0)) == INSERTED
    assert projector.handle(record(answered.to_bytes(), 1)) == DUPLICATE
    with engine.connect() as conn:
        (task,) = conn.execute(sa.select(TASKS))
        timeline = conn.execute(sa.select(TASK_EVENTS)).all()
    assert (task.state, task.resolution) == ("resolved", "feasible, earliest date 2025-03-20")
    assert task.feedback_latency_s == pytest.approx(0.8)
    assert [(e.type, e.actor, e.from_state, e.to_state) for e in timeline] == [
        ("task.resolved", "router", "open", "resolved")
    ]


def ticket_updated(event_id: str = "upd-1", **data: Any) -> bytes:
    update: dict[str, Any] = {
        "ticket_id": "4711",
        "ticket_event_id": "zd-4",
        "requester_email": "taro@example.co.jp",
        "change": "priority",
        "comment": "急ぎでお願いします。\n月末締めです。",
        "comment_public": True,
        "priority": "urgent",
        "previous_priority": "normal",
        "updated_at": "2025-03-03T09:30:00+09:00",
    }
    update.update(data)
    return CloudEvent(
        id=event_id, source="/sources/zendesk", type="support.ticket_updated", time=AT, data=update
    ).to_bytes()


def test_a_ticket_update_is_kept_even_before_its_task_and_shows_on_it(
    projector: Projector, engine: sa.Engine, make_routed: Any
) -> None:
    # it skips the router's grouping, so it can arrive first
    assert projector.handle(record(ticket_updated(), 0)) == UPDATED
    assert projector.handle(record(ticket_updated(), 1)) == DUPLICATE
    assert projector.handle(record(make_routed("zd-4").to_bytes(), 2)) == INSERTED
    repository = SqlTaskRepository(engine)
    task = repository.get(derived_id("task", "zd-4"))
    (update,) = repository.origin_updates(task)
    assert (update.change, update.ref, update.priority, update.previous_priority) == (
        "priority", "4711", "urgent", "normal",
    )  # fmt: skip
    assert update.comment == "急ぎでお願いします。\n月末締めです。"
    assert update.at == datetime(2025, 3, 3, 0, 30, tzinfo=UTC)


def test_a_later_update_marks_the_stored_task_changed(
    projector: Projector, engine: sa.Engine, make_routed: Any
) -> None:
    assert projector.handle(record(make_routed("zd-4").to_bytes(), 0)) == INSERTED
    earlier = datetime(2025, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.update(TASKS).values(updated_at=earlier))
    assert projector.handle(record(ticket_updated(change="comment"), 1)) == UPDATED
    assert SqlTaskRepository(engine).get(derived_id("task", "zd-4")).updated_at == AT


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"change": "shrug"}, "change"),
        ({"comment": "nul\x00byte"}, "data.comment: contains a NUL"),
        ({"ticket_event_id": "e" * 129}, "ticket_event_id: String should have at most 128"),
    ],
)
def test_an_update_that_cannot_be_kept_is_dead_lettered(
    projector: Projector, dead_letters: FakeDeadLetters, data: dict[str, Any], reason: str
) -> None:
    assert projector.handle(record(ticket_updated(**data), 5)) == DEAD_LETTERED
    ((_, letter),) = dead_letters.sent
    assert letter["error_type"] == "InvalidTicketUpdated"
    assert reason in letter["reason"]


def test_handle_dead_letters_garbage_with_the_reason(
    projector: Projector, dead_letters: FakeDeadLetters, engine: sa.Engine
) -> None:
    assert projector.handle(record(b"not json at all", 7)) == DEAD_LETTERED
    [(key, letter)] = dead_letters.sent
    assert key == b"example.co.jp"
    assert letter["offset"] == 7
    assert letter["error_type"] == "InvalidCloudEvent"
    assert "Invalid JSON" in letter["reason"]
    assert letter["value"] == "not json at all"
    assert rows(engine) == []
    assert projector.processed == {DEAD_LETTERED: 1}


def test_handle_keeps_the_message_when_the_database_is_down(
    projector: Projector, database_down: threading.Event, make_routed: Any
) -> None:
    database_down.set()
    with pytest.raises(RetryLaterError) as caught:
        projector.handle(record(make_routed("zd-5").to_bytes()))
    assert caught.value.part == "database"
    assert projector.processed == {}


def test_handle_keeps_the_message_when_the_dead_letter_topic_is_down(
    projector: Projector, dead_letters: FakeDeadLetters
) -> None:
    dead_letters.down = True
    with pytest.raises(RetryLaterError) as caught:
        projector.handle(record(b"garbage"))
    assert caught.value.part == "dead-letter topic"
    assert projector.processed == {}


# --- the loop ------------------------------------------------------------------------------------


def test_loop_commits_after_the_rows_and_dead_letters(
    make_projector: MakeProjector,
    dead_letters: FakeDeadLetters,
    engine: sa.Engine,
    make_routed: Any,
) -> None:
    first, second = make_routed("zd-6").to_bytes(), make_routed("zd-7").to_bytes()
    consumer = FakeConsumer([first, b"garbage", first, second])
    projector = make_projector(consumer)
    projector.start()
    try:
        wait_for(lambda: consumer.commits[-1:] == [4])
    finally:
        projector.stop()
    assert projector.processed == {INSERTED: 2, DUPLICATE: 1, DEAD_LETTERED: 1}
    assert len(rows(engine)) == 2
    assert len(dead_letters.sent) == 1
    assert consumer.closed
    assert dead_letters.closed
    assert not projector.is_alive()


def test_loop_commits_nothing_while_the_database_is_down_then_catches_up(
    make_projector: MakeProjector,
    database_down: threading.Event,
    engine: sa.Engine,
    make_routed: Any,
) -> None:
    consumer = FakeConsumer([make_routed("zd-8").to_bytes(), make_routed("zd-9").to_bytes()])
    projector = make_projector(consumer)
    database_down.set()
    projector.start()
    try:
        wait_for(lambda: projector.retries["database"] >= 3)
        assert consumer.commits == []
        database_down.clear()
        wait_for(lambda: consumer.commits[-1:] == [2])
    finally:
        projector.stop()
    assert projector.processed == {INSERTED: 2}
    assert {subject for _, subject in rows(engine)} == {"請求書の画面が分かりにくい"}
    assert len(rows(engine)) == 2


def test_stop_ends_an_idle_projector_quickly(projector: Projector) -> None:
    projector.start()
    assert projector.is_alive()
    began = time.monotonic()
    projector.stop()
    assert not projector.is_alive()
    assert time.monotonic() - began < 2.0


def test_a_later_routed_event_of_a_grouped_task_grows_its_group(
    make_projector: MakeProjector, make_routed: Any, client: Any
) -> None:
    projector = make_projector()
    first = make_routed("zd-g1")
    joined = make_routed(
        "zd-g1",
        event_count=3,
        event_ids=["zd-g1", "zd-g2", "zd-g3"],
        summary="3 requests from 1 account",
        department="support",
    )
    assert projector.handle(record(first.to_bytes())) == "inserted"
    assert projector.handle(record(joined.to_bytes(), offset=1)) == "grouped"
    assert projector.handle(record(first.to_bytes(), offset=2)) == "duplicate"  # never shrinks
    task = client.get(f"/v1/tasks/{first.data['task_id']}").json()
    assert task["event_count"] == 3
    assert task["summary"] == "3 requests from 1 account"
    assert [e["source_event_id"] for e in task["source_events"]] == ["zd-g1", "zd-g2", "zd-g3"]
    [team] = client.get("/v1/teams").json()["teams"]
    assert (team["open"], team["events"]) == (1, 3)


def test_a_poll_of_clean_records_is_stored_in_one_transaction(
    make_projector: MakeProjector, engine: sa.Engine, make_routed: Any, client: Any
) -> None:
    """Five tasks polled together: one commit, the rollups' version moved once, and the
    figures as five transactions would have left them (issue 15, target 6)."""
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda _conn: commits.append(1))
    before = client.get("/v1/teams").json()["teams"]
    with engine.connect() as conn:
        version = rollups.version(conn)
    consumer = FakeConsumer([make_routed(f"zd-b{i}").to_bytes() for i in range(5)])
    projector = make_projector(consumer)
    projector.start()
    try:
        wait_for(lambda: consumer.commits[-1:] == [5])
    finally:
        projector.stop()
    assert projector.processed == {INSERTED: 5}
    assert len(commits) == 1
    with engine.connect() as conn:
        assert rollups.version(conn) == version + 1
    [team] = client.get("/v1/teams").json()["teams"]
    assert before == []
    assert (team["open"], team["events"]) == (5, 5)


def test_a_poll_with_a_record_the_database_refuses_goes_one_by_one(
    make_projector: MakeProjector,
    dead_letters: FakeDeadLetters,
    engine: sa.Engine,
    make_routed: Any,
) -> None:
    """The refused record is dead-lettered with the reason; the others are stored, each
    once, though the poll's shared transaction wrote them before it was rolled back."""
    with engine.begin() as conn:  # SQLite's own refusal (an IntegrityError) for one subject
        conn.execute(sa.text(
            "CREATE TRIGGER refuse BEFORE INSERT ON tasks WHEN NEW.subject = 'refuse me'"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ))  # fmt: skip
    refused = make_routed("zd-r2", subject="refuse me")
    values = [make_routed("zd-r1").to_bytes(), refused.to_bytes(), make_routed("zd-r3").to_bytes()]
    consumer = FakeConsumer(values)
    projector = make_projector(consumer)
    projector.start()
    try:
        wait_for(lambda: consumer.commits[-1:] == [3])
    finally:
        projector.stop()
    assert projector.processed == {INSERTED: 2, DEAD_LETTERED: 1}
    assert len(rows(engine)) == 2
    [(_, letter)] = dead_letters.sent
    assert letter["reason"].startswith("the database refused the task: refused by the test")
