"""Who waits on whom, on a seeded mix of departments, against a hand-computed table.

Issue 16 (items 10-12, acceptance 3) and issue 12 (rollups): the events go through
the projector as the router sends them (one ``task.routed`` per request), people
answer through the API's lifecycle, the router answers a feasible rush order
itself. On SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from schemas import topics
from schemas.events import TASK_ROUTED, CloudEvent, TaskRouted, derived_id, envelope
from services.api import figures as read
from services.api.consumer import ProjectorConfig
from services.api.db import make_engine, upgrade
from services.api.feedback import Change, change_task
from services.api.metrics import ApiMetrics
from services.api.models import ROLLUPS
from services.api.projector import Projector
from services.api.projector_writes import DUPLICATE, GROUPED, INSERTED
from services.api.rollups import rebuild

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class NoDeadLetters:
    def send(self, key: bytes | None, value: bytes) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {value[:300]!r}")

    def close(self) -> None:
        pass


class Published:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    def publish(self, event: CloudEvent, *, key: str) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def routed(task: str, origin: str, source: str, team: str, department: str, **more: Any) -> Record:
    """One ``task.routed`` record, as the router sends one per request grouped into a task."""
    raised = more.pop("raised_at")
    data = TaskRouted.model_validate(
        {
            "task_id": task,
            "source_event_id": more.pop("first", origin),
            "source": source,
            "team": team,
            "rule": "/0",
            "account": "example.co.jp",
            "priority": "normal",
            "component": None,
            "subject": "請求書の画面が分かりにくい",
            "description": "",
            "requester_email": "taro@example.co.jp",
            "raised_at": raised,
            "routed_at": raised + timedelta(minutes=1),
            "sla_due": raised + timedelta(hours=4),
            "acknowledge_by": raised + timedelta(hours=4),
            "resolve_by": raised + timedelta(hours=8),
            "department": department,  # the ANSWERING team's, as the router sends it
            "origin_event_id": origin,
            **more,
        }
    )
    event = envelope(
        type_=TASK_ROUTED, source="/handoff/router", data=data, time=data.routed_at,
        event_id=derived_id(TASK_ROUTED, task, origin),
    )  # fmt: skip
    return Record(topics.ROUTED, 0, 0, b"example.co.jp", event.to_bytes())


def seeded_records() -> list[Record]:
    """Support asks billing (4 tickets in one task, one more open), sales asks production
    (a planning task, and a rush order the router answers), sales asks marketing."""
    billing = [
        routed("t-billing", f"zd-{i}", "/sources/zendesk", "billing", "engineering",
               raised_at=T0 + timedelta(minutes=10 * i), first="zd-0", event_count=i + 1)
        for i in range(4)
    ]  # fmt: skip
    return [
        *billing,
        routed("t-billing-2", "fd-1", "/sources/freshdesk", "billing", "engineering",
               raised_at=T0 + timedelta(minutes=40)),
        routed("t-plan", "sf-1", "/sources/salesforce", "production-planning", "manufacturing",
               raised_at=T0),
        routed("t-rush", "sales-1", "/sources/sales", "production-planning", "manufacturing",
               raised_at=T0, answered_at=T0 + timedelta(milliseconds=60), answer="OK: 3/10"),
        routed("t-lost", "hs-1", "/sources/hubspot", "marketing", "marketing", raised_at=T0),
    ]  # fmt: skip


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def projector(engine: sa.Engine) -> Projector:
    config = ProjectorConfig(bootstrap="unused:9092", group_id="g", poll_timeout_ms=10)
    return Projector(
        engine, config, metrics=ApiMetrics(CollectorRegistry()), dead_letters=NoDeadLetters(),
        clock=lambda: T0 + timedelta(minutes=50),
    )  # fmt: skip


def answer(engine: sa.Engine, task_id: str, at: datetime) -> None:
    change_task(
        engine, task_id, Change("resolve", message="done"), publisher=Published(),
        clock=lambda: at,
    )  # fmt: skip


def seed(engine: sa.Engine) -> Projector:
    project = projector(engine)
    outcomes = [project.handle(r) for r in seeded_records()]
    assert outcomes == [INSERTED, GROUPED, GROUPED, GROUPED, INSERTED, INSERTED, INSERTED, INSERTED]
    answer(engine, "t-billing", T0 + timedelta(hours=2))
    answer(engine, "t-plan", T0 + timedelta(hours=1))
    answer(engine, "t-lost", T0 + timedelta(hours=3))
    return project


# The hand-computed table. Support's four tickets wait 2h, 1h50, 1h40, 1h30 (answered at
# 11:00 together): p50 (nearest rank, 2nd of 4) 6000 s, p90 7200 s; the open fifth ticket
# counts as open. Sales waits 1 h on production's people, 0.06 s on the router, 3 h on marketing.
WHO_WAITS = [
    # department, team, open, open requests, p50 people, p90, answered, router answered, p50
    ("sales", "marketing", 0, 0, 10800.0, 10800.0, 1, 0, None),
    ("sales", "production-planning", 0, 0, 3600.0, 3600.0, 1, 1, 0.06),
    ("support", "billing", 1, 1, 6000.0, 7200.0, 4, 0, None),
]
FIGURES = [
    # department, team, answered_by, tasks, requests, feedback p50, per-task p50, count
    ("sales", "marketing", "team", 1, 1, 10800.0, 10800.0, 1),
    ("sales", "production-planning", "router", 1, 1, 0.06, 0.06, 1),
    ("sales", "production-planning", "team", 1, 1, 3600.0, 3600.0, 1),
    ("support", "billing", "team", 2, 5, 6000.0, 7200.0, 4),
]


def table(conn: sa.Connection) -> tuple[list[Any], list[Any], Any]:
    waits = [
        (w.department, w.team, w.open, w.open_requests, w.median_feedback_latency_s,
         w.p90_feedback_latency_s, w.answered, w.router_answered,
         w.router_median_feedback_latency_s)
        for w in read.who_waits(conn)
    ]  # fmt: skip
    groups = [
        (f.department, f.team, f.answered_by, f.tasks, f.requests, f.feedback_latency.p50,
         f.feedback_latency_per_task.p50, f.feedback_latency.count)
        for f in read.figures(conn, now=T0 + timedelta(hours=4))
    ]  # fmt: skip
    return waits, groups, read.feedback_latency(conn)


def test_who_waits_and_figures_match_the_hand_computed_table(engine: sa.Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        waits, groups, latency = table(conn)
    assert waits == WHO_WAITS
    assert groups == FIGURES
    # per asker, people only: 3600, 5400, 6000, 6600, 7200, 10800 -> p50 is the 3rd
    assert (latency.overall.count, latency.overall.p50, latency.overall.max) == (6, 6000.0, 10800.0)
    assert (latency.router.count, latency.router.p50) == (1, 0.06)
    assert (latency.per_task.count, latency.per_task.p50) == (3, 7200.0)  # 3600, 7200, 10800
    assert sorted(latency.teams) == ["billing", "marketing", "production-planning"]
    assert latency.teams["billing"].count == 4


def test_windows_are_exact_at_partial_hours(engine: sa.Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        since = read.feedback_latency(conn, since=T0 + timedelta(hours=1, minutes=30))
        raised = read.who_waits(
            conn, since=T0 + timedelta(minutes=15), until=T0 + timedelta(minutes=35)
        )
    assert since.overall.count == 5  # the billing four at 11:00, marketing at 12:00
    assert [(w.department, w.team, w.answered) for w in raised] == [("support", "billing", 2)]


# what a row counts (not in which version it changed: a rebuild leaves that out)
STORED = sa.select(*(column for column in ROLLUPS.c if column.name != "changed_in"))


def test_replayed_events_count_once_and_rollups_equal_a_rebuild(engine: sa.Engine) -> None:
    project = seed(engine)
    with engine.connect() as conn:
        first = table(conn)
        rows = conn.execute(STORED.order_by(*ROLLUPS.primary_key.columns)).all()
    assert {project.handle(r) for r in seeded_records()} == {DUPLICATE}  # a replay after a crash
    with engine.connect() as conn:
        assert table(conn) == first
    with engine.begin() as conn:
        assert rebuild(conn) == 5
    with engine.connect() as conn:
        assert table(conn) == first
        rebuilt = conn.execute(STORED.order_by(*ROLLUPS.primary_key.columns)).all()
    counted = [tuple(r) for r in rows if r.n and r.grain != "version"]
    assert [tuple(r) for r in rebuilt if r.n and r.grain != "version"] == counted


def test_reopened_and_reassigned_tasks_move_between_keys(engine: sa.Engine) -> None:
    seed(engine)
    publisher = Published()
    later = T0 + timedelta(hours=5)
    change_task(engine, "t-lost", Change("reopen", message="again"), publisher=publisher,
                clock=lambda: later)  # fmt: skip
    change_task(engine, "t-billing-2", Change("reassign", message="yours", to_team="identity"),
                publisher=publisher, clock=lambda: later)  # fmt: skip
    with engine.connect() as conn:
        waits = {(w.department, w.team): (w.open, w.answered) for w in read.who_waits(conn)}
        assert waits[("sales", "marketing")] == (1, 0)
        assert waits[("support", "identity")] == (1, 0)
        assert waits[("support", "billing")] == (0, 4)
    with engine.begin() as conn:
        rebuild(conn)
    with engine.connect() as conn:
        rebuilt = {(w.department, w.team): (w.open, w.answered) for w in read.who_waits(conn)}
    assert rebuilt == waits


OLD_TASKS = sa.table(
    "tasks",
    *(sa.column(name) for name in (
        "task_id", "source_event_id", "source", "team", "rule", "account", "priority",
        "component", "subject", "description", "requester_email", "state", "raised_at",
        "routed_at", "sla_due", "projected_at", "resolved_at", "resolution",
        "feedback_latency_s", "version", "department", "acknowledged_at", "event_count",
    )),
)  # fmt: skip
OLD_EVENTS = sa.table(
    "task_events",
    *(sa.column(name) for name in (
        "task_id", "seq", "event_id", "type", "at", "actor", "from_state", "to_state", "team",
    )),
)  # fmt: skip


def old_task(task_id: str, source: str, team: str, department: str, **more: Any) -> dict[str, Any]:
    """A row as 0004 stored it: ``department`` the answering team's (the bug of issue 16)."""
    naive = T0.replace(tzinfo=None)  # what SQLite holds; PostgreSQL takes it as UTC
    return {
        "task_id": task_id, "source_event_id": task_id, "source": source, "team": team,
        "rule": "/0", "account": "a.example", "priority": "normal", "component": None,
        "subject": "s", "description": "", "requester_email": "a@a.example", "state": "open",
        "raised_at": naive, "routed_at": naive, "sla_due": naive + timedelta(hours=4),
        "projected_at": naive, "resolved_at": None, "resolution": None,
        "feedback_latency_s": None, "version": 1, "department": department,
        "acknowledged_at": None, "event_count": 1, **more,
    }  # fmt: skip


def test_the_migration_fixes_stored_departments_and_builds_the_rollups(database_url: str) -> None:
    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    answered = T0.replace(tzinfo=None) + timedelta(seconds=1)
    try:
        with engine.begin() as conn:
            conn.execute(OLD_TASKS.insert(), [
                old_task("a", "/sources/zendesk", "billing", "engineering"),
                old_task("b", "/sources/support", "billing", "support"),  # 0002's fallback
                old_task("c", "/sources/sales", "production-planning", "manufacturing",
                         state="resolved", resolved_at=answered, acknowledged_at=answered,
                         feedback_latency_s=1.0),
            ])  # fmt: skip
            conn.execute(OLD_EVENTS.insert(), [{
                "task_id": "c", "seq": 1, "event_id": "e-c", "type": "task.resolved",
                "at": answered, "actor": "router", "from_state": "open", "to_state": "resolved",
                "team": "production-planning",
            }])  # fmt: skip
        upgrade(database_url)
        names = ("task_id", "department", "answering_department", "answered_by")
        t = sa.table("tasks", *(sa.column(n) for n in names))
        with engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.task_id)).all()
            waits = [
                (w.department, w.team, w.open, w.router_answered) for w in read.who_waits(conn)
            ]
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("a", "support", "engineering", None),
        ("b", "support", None, None),
        ("c", "sales", "manufacturing", "router"),
    ]
    assert waits == [("sales", "production-planning", 0, 1), ("support", "billing", 2, 0)]
