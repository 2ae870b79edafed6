"""The metrics added for alerts: bounded DLQ reasons, rule-set info, router answers, rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from services.api.db import Base, Delivery, Task
from services.api.metrics import LATENCY_BUCKETS, ApiMetrics, RollupCollector
from services.ingest.metrics import IngestMetrics, RawIngestMetrics
from services.router.metrics import ANSWER_BUCKETS, DLQ_REASONS, RouterMetrics

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def make_task(task_id: str, team: str, state: str, due_in_s: float) -> dict[str, Any]:
    return {
        "task_id": task_id, "source_event_id": f"e-{task_id}", "source": "s", "team": team,
        "rule": "/0", "account": "a", "priority": "high", "subject": "s", "description": "d",
        "requester_email": "r@example.com", "state": state, "raised_at": NOW,
        "routed_at": NOW, "sla_due": NOW + timedelta(seconds=due_in_s), "projected_at": NOW,
        "version": 1, "event_count": 1,
    }  # fmt: skip


def make_delivery(delivery_id: str, task_id: str, state: str) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id, "task_id": task_id, "event_id": "e", "source": "s",
        "task_state": "resolved", "url": "http://127.0.0.1/cb", "body": "{}", "state": state,
        "attempts": 1, "created_at": NOW, "next_attempt_at": NOW,
    }  # fmt: skip


def test_router_dead_letters_are_counted_by_a_bounded_reason() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.dead_lettered("InvalidJson")
    metrics.dead_lettered("KeyError")  # a bug: its class is not a label value
    value = registry.get_sample_value
    assert value("handoff_router_dead_letters_total", {"reason": "InvalidJson"}) == 1
    assert value("handoff_router_dead_letters_total", {"reason": "other"}) == 1
    assert value("handoff_router_dead_letters_total", {"reason": DLQ_REASONS[0]}) == 0


def test_rules_in_force_replaces_the_version() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.rules_in_force("v1")
    metrics.rules_in_force("v2")
    assert registry.get_sample_value("handoff_router_rules_info", {"version": "v2"}) == 1
    assert registry.get_sample_value("handoff_router_rules_info", {"version": "v1"}) is None


def test_router_answers_are_observed_per_team_and_department() -> None:
    registry = CollectorRegistry()
    RouterMetrics(registry).answered("production-planning", "sales", 42.0)
    labels = {"team": "production-planning", "department": "sales", "le": "60.0"}
    assert registry.get_sample_value("handoff_router_answer_latency_seconds_bucket", labels) == 1


def test_router_and_team_answers_share_buckets_so_one_heatmap_compares_them() -> None:
    assert ANSWER_BUCKETS == LATENCY_BUCKETS


def test_api_and_ingest_count_dead_letters_and_responses() -> None:
    registry = CollectorRegistry()
    api, ingest, raw = ApiMetrics(registry), IngestMetrics(registry), RawIngestMetrics(registry)
    api.dead_lettered("InvalidTaskRouted")
    api.rules_in_force("v3")
    ingest.responded("/v1/sources/{source}/tickets", "POST", 503)
    raw.dead_lettered("zendesk", "InvalidPayload")
    raw.dead_lettered("zendesk", "Surprise")
    value = registry.get_sample_value
    assert value("handoff_api_dead_letters_total", {"reason": "InvalidTaskRouted"}) == 1
    assert value("handoff_api_rules_info", {"version": "v3"}) == 1
    labels = {"route": "/v1/sources/{source}/tickets", "method": "POST", "status": "503"}
    assert value("handoff_ingest_requests_total", labels) == 1
    raw_labels = {"source": "zendesk", "reason": "other"}
    assert value("handoff_ingest_raw_dead_letters_total", raw_labels) == 1


def test_rollups_count_open_tasks_by_team_and_sla_and_outstanding_deliveries(
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'rollup.db'}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(Task), [
            make_task("t1", "billing", "open", -60),  # breached
            make_task("t2", "billing", "acknowledged", 600),  # due within the hour
            make_task("t3", "billing", "open", 86_400),
            make_task("t4", "mobile", "resolved", -60),  # closed: not counted
        ])  # fmt: skip
        conn.execute(sa.insert(Delivery), [
            make_delivery("d1", "t4", "pending"), make_delivery("d2", "t4", "dead"),
            make_delivery("d3", "t4", "dead"), make_delivery("d4", "t4", "delivered"),
        ])  # fmt: skip
    registry = CollectorRegistry()
    registry.register(RollupCollector(engine, clock=lambda: NOW, wait_s=10))
    value = registry.get_sample_value
    for sla in ("breached", "at_risk", "ok"):
        assert value("handoff_api_open_tasks", {"team": "billing", "sla": sla}) == 1
    assert value("handoff_api_open_tasks", {"team": "mobile", "sla": "breached"}) is None
    outstanding = "handoff_api_callback_deliveries_outstanding"
    assert value(outstanding, {"state": "pending"}) == 1
    assert value(outstanding, {"state": "parked"}) == 2
    engine.dispose()
