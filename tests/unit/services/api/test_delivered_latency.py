"""An answer delivered to each asker: labelled with the ASKING department (issue 16, item 10)
and counted per asker, at its delivery, in the figures (item 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.api import figures as read
from services.api.callbacks import Deliverer, DeliveryPolicy
from services.api.metrics import ApiMetrics
from tests.unit.services.api.conftest import T0
from tests.unit.services.api.test_api_callbacks import SECRET, SOURCE, FakeDeadLetters, FakeOrigin

METRIC = "handoff_api_delivered_feedback_latency_seconds_count"


def test_each_asker_is_answered_and_labelled_with_its_own_department(
    client: TestClient, add_task: Any, engine: sa.Engine, clock: Any
) -> None:
    hook = {"source": SOURCE, "url": "http://127.0.0.1:9/t/{ticket_id}", "secret": SECRET}
    assert client.put("/v1/admin/callbacks", json={**hook, "format": "zendesk"}).status_code == 200
    task = add_task("zd-1", source=SOURCE, department="engineering",  # the team's, as routed
                    origin_event_id="zd-1", origin_ref="101")  # fmt: skip
    add_task("zd-1", source=SOURCE, department="engineering", origin_event_id="zd-2",
             origin_ref="102", raised_at=T0 - timedelta(minutes=5))  # fmt: skip
    clock.advance(600)
    assert client.post(f"/v1/tasks/{task}/resolve", json={"message": "done"}).status_code == 200
    clock.advance(60)  # delivered a minute after the answer
    registry = CollectorRegistry()
    deliverer = Deliverer(
        engine, DeliveryPolicy(), dead_letters=FakeDeadLetters(), clock=clock,
        metrics=ApiMetrics(registry), post=FakeOrigin(200), rand=lambda: 1.0,
    )  # fmt: skip
    deliverer.run_once()
    labels = {"team": "billing-ui", "department": "support"}
    assert registry.get_sample_value(METRIC, labels) == 2
    assert registry.get_sample_value(METRIC, {**labels, "department": "engineering"}) is None
    with engine.connect() as conn:
        [pair] = read.who_waits(conn)
        latency = read.feedback_latency(conn)
    assert (pair.department, pair.team, pair.answered) == ("support", "billing-ui", 2)
    # raised 08:50 and 08:55, delivered 09:11: 21 and 16 minutes
    assert sorted([latency.overall.p50, latency.overall.max]) == [960.0, 1260.0]
