"""Issue 11, acceptance 1, on the real broker: two plants, three lines, two products.

A rush order for a product that no line with free units makes is never answered
feasible, whatever the other product's capacity: it becomes planning work naming the
lines that make it and what is missing per date. The product that has free units is
promised on its line, and held.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import topics
from schemas.events import CloudEvent, TaskFeedback, TaskRouted, derived_id
from tests.integration.router_process import (
    Producer,
    RouterWorker,
    cloud_event,
    metric,
    records_for,
    routed_ids,
    router_env,
    running_router,
    sales_event,
    unique,
)
from tests.processes import read_topic, wait_for


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterWorker]:
    home = tmp_path_factory.mktemp("capacity")
    with running_router(router_env(kafka_bootstrap, home, only_new=True), home) as running:
        yield running


def capacity(plant: str, line: str, products: list[str], free: dict[str, int]) -> bytes:
    body = {
        "plant": plant,
        "line": line,
        "products": products,
        "as_of": datetime.now(UTC).isoformat(),
        "free": [{"date": day, "units": units} for day, units in free.items()],
    }
    return cloud_event(unique("cap"), "production.capacity", body)


def answers_for(records: list[Any], task_ids: set[str]) -> list[TaskFeedback]:
    found = [TaskFeedback.model_validate(CloudEvent.from_bytes(r.value).data) for r in records
             if json.loads(r.value).get("type") == "task.feedback"]  # fmt: skip
    return [a for a in found if a.task_id in task_ids]


def test_a_product_without_free_units_is_never_promised(
    worker: RouterWorker, producer: Producer, kafka_bootstrap: str
) -> None:
    free_one, scarce = unique("wx-a")[-24:].lower(), unique("wx-b")[-24:].lower()
    hamamatsu, nagoya = unique("hamamatsu")[-20:], unique("nagoya")[-20:]
    today = datetime.now(UTC).date()
    days = [(today + timedelta(days=n)).isoformat() for n in (1, 2, 3, 5)]
    lines = [
        capacity(hamamatsu, "l1", [free_one], dict.fromkeys(days, 5000)),
        capacity(hamamatsu, "l2", [scarce, free_one], dict.fromkeys(days, 0)),
        capacity(nagoya, "l1", [scarce], dict.fromkeys(days, 0)),
    ]
    before = metric(worker, "handoff_router_capacity_updates_total")
    for value in lines:
        producer.send(b"capacity", value, topic=topics.INGEST_CAPACITY)
    wait_for(
        "the three lines applied",
        lambda: metric(worker, "handoff_router_capacity_updates_total") >= before + 3,
    )
    # several orders for the scarce product, some "concurrent" (sent back to back), one
    # redelivered, and one for the other product (promised: the check does answer)
    scarce_ids = [unique("rush") for _ in range(4)]
    for n, event_id in enumerate(scarce_ids):
        order = sales_event(event_id, product_line=scarce, quantity=10 + n, due_date=days[n])
        producer.send(b"crm:ACME-1", order, topic=topics.INGEST_SALES)
    producer.send(b"crm:ACME-1", sales_event(scarce_ids[0], product_line=scarce, quantity=10,
                  due_date=days[0]), topic=topics.INGEST_SALES)  # fmt: skip
    fitting = unique("rush")
    producer.send(b"crm:ACME-1", sales_event(fitting, product_line=free_one, quantity=3000,
                  due_date=days[1]), topic=topics.INGEST_SALES)  # fmt: skip

    planning = read_topic(
        kafka_bootstrap,
        topics.team_topic("production-planning"),
        lambda rs: set(scarce_ids) <= set(routed_ids(rs)),
    )
    for event_id in scarce_ids:
        (task,) = {t.task_id: t for t in _tasks(records_for(planning, event_id))}.values()
        assert task.planning is not None
        assert task.planning.product == scarce
        assert [(c.plant, c.line) for c in task.planning.candidates] == sorted(
            [(hamamatsu, "l2"), (nagoya, "l1")]
        )
        assert task.planning.earliest_feasible is None
        assert all(s.units == task.planning.quantity for s in task.planning.shortfall)

    fitting_id = derived_id("task", fitting)
    wanted = {derived_id("task", e) for e in scarce_ids} | {fitting_id}
    feedback = read_topic(
        kafka_bootstrap, topics.FEEDBACK, lambda rs: bool(answers_for(rs, {fitting_id}))
    )
    answers = answers_for(feedback, wanted)
    assert [a.task_id for a in answers] == [fitting_id]  # the scarce product: never feasible
    assert answers[0].message.startswith(f"feasible: 3000 units on line {hamamatsu}/l1 by ")


def _tasks(records: list[Any]) -> list[TaskRouted]:
    return [TaskRouted.model_validate(CloudEvent.from_bytes(r.value).data) for r in records]
