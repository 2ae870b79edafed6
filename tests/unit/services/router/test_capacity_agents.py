"""Rush orders through the router's agents (no broker): checked by product across plants
and lines, held, refused at once, or planning work with structured fields; holds
released by a lost deal and by the timer (issue 11, items 1, 3 and 7)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from schemas import topics
from schemas.events import CloudEvent, TaskFeedback, TaskRouted, derived_id
from schemas.orders import HOLD_RELEASED, HoldReleased
from services.router.app import CAPACITY_AGENT_NAME, SALES_AGENT_NAME
from tests.unit.services.router.conftest import ROUTED_AT, Router
from tests.unit.services.router.test_app import cloud_event

pytestmark = pytest.mark.anyio
D2, D3, D10 = "2026-11-22", "2026-11-23", "2026-11-30"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def capacity(plant: str, line: str, products: list[str], free: dict[str, int], **kw: Any) -> bytes:
    body = {
        "plant": plant,
        "line": line,
        "products": products,
        "as_of": "2026-11-20T00:00:00+00:00",
        "free": [{"date": day, "units": units} for day, units in free.items()],
        **kw,
    }
    return cloud_event(f"cap-{plant}-{line}", "production.capacity", body)


def rush(event_id: str, product: str, quantity: int, due: str = D3, **data: Any) -> bytes:
    note = {
        "intent": "rush_order",
        "subject": f"{quantity} x {product}",
        "rep_email": "rep@handoff.example",
        "crm_account_id": "ACME-1",
        "product_line": product,
        "quantity": quantity,
        "due_date": due,
        **data,
    }
    return cloud_event(event_id, "sales.note", note)


def lost(event_id: str, opportunity: str) -> bytes:
    note = {
        "intent": "deal_lost",
        "subject": "lost",
        "crm_account_id": "ACME-1",
        "loss_reason": "price",
        "opportunity_id": opportunity,
    }
    return cloud_event(event_id, "sales.note", note)


def answers(router: Router) -> list[TaskFeedback]:
    events = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topics.FEEDBACK)]
    return [TaskFeedback.model_validate(e.data) for e in events]


def routed(router: Router, topic: str = topics.ROUTED) -> list[TaskRouted]:
    events = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topic)]
    return [TaskRouted.model_validate(e.data) for e in events if e.type == "task.routed"]


def released(router: Router) -> list[HoldReleased]:
    events = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topics.ROUTED)]
    return [HoldReleased.model_validate(e.data) for e in events if e.type == HOLD_RELEASED]


async def two_plants(router: Router) -> None:
    """Two plants, three lines, two products (acceptance 1's table)."""
    await router.feed(
        CAPACITY_AGENT_NAME, b"x", capacity("hamamatsu-2", "l1", ["WX-300"], {D2: 5000})
    )
    await router.feed(
        CAPACITY_AGENT_NAME, b"x", capacity("hamamatsu-2", "l2", ["wx-200"], {D2: 100})
    )
    await router.feed(CAPACITY_AGENT_NAME, b"x", capacity("nagoya-1", "l1", ["wx-200"], {D10: 900}))


async def test_another_products_capacity_is_never_promised(router: Router) -> None:
    await two_plants(router)
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", rush("r-1", "WX-200", 3000))
    assert answers(router) == []  # not feasible: planning work, not an answer
    [planning] = routed(router, "handoff.team.production-planning")
    assert planning.planning is not None
    assert planning.planning.model_dump(mode="json") == {
        "product": "wx-200",
        "quantity": 3000,
        "due_date": D3,
        "plant": None,
        "candidates": [
            {"plant": "hamamatsu-2", "line": "l2"},
            {"plant": "nagoya-1", "line": "l1"},
        ],
        "shortfall": [{"date": D2, "units": 2900}],
        "earliest_feasible": None,
        "opportunity_id": None,
        "locale": None,
    }


async def test_a_fitting_order_is_answered_with_the_line_units_and_hold(router: Router) -> None:
    await two_plants(router)
    order = rush("r-2", "wx-200", 80, opportunity_id="006X", locale="ja")
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", order)
    [answer] = answers(router)
    expires = ROUTED_AT + timedelta(hours=48)
    assert answer.status == "resolved"
    assert answer.message == (
        f"feasible: 80 units on line hamamatsu-2/l2 by {D2}, held until {expires.isoformat()}"
    )
    [task] = routed(router)
    assert task.answered_at == ROUTED_AT
    assert task.locale == "ja"
    assert task.held is not None
    assert (task.held.plant, task.held.line, task.held.units) == ("hamamatsu-2", "l2", 80)
    assert (task.held.ready_by, task.held.expires_at) == (date(2026, 11, 22), expires)
    # the units are held: the next order for them is planning work
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", rush("r-3", "wx-200", 30, D2))
    assert len(answers(router)) == 1
    # a redelivered order gets the same answer again, nothing more held
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", order)
    assert {a.message for a in answers(router)} == {answer.message}


@pytest.mark.parametrize(
    ("order", "code", "reason"),
    [
        (
            rush("r-4", "wx-900", 10),
            "unknown_product",
            "no line publishes capacity for product wx-900",
        ),
        (
            rush("r-5", "wx-200", 10, plant="kyoto-9"),
            "unknown_product",
            "no line at plant kyoto-9 publishes",
        ),
        (rush("r-6", "wx-200", 10, "2026-11-19"), "due_before_today", "is before today"),
    ],
)
async def test_what_cannot_be_checked_is_answered_at_once(
    router: Router, order: bytes, code: str, reason: str
) -> None:
    await two_plants(router)
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", order)
    [answer] = answers(router)
    assert answer.status == "rejected"
    assert reason in answer.message
    [task] = routed(router)
    assert task.refused is not None
    assert (task.refused.code, task.held, task.planning) == (code, None, None)
    assert routed(router, "handoff.team.production-planning") == []


async def test_a_lost_deal_releases_its_hold(router: Router) -> None:
    await two_plants(router)
    await router.route(
        SALES_AGENT_NAME, b"crm:ACME-1", rush("r-7", "wx-200", 100, opportunity_id="006X")
    )
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", lost("l-1", "006X"))
    [release] = released(router)
    assert (release.reason, release.units, release.opportunity_id) == ("deal_lost", 100, "006X")
    assert release.task_id == derived_id("task", "r-7")
    # the units are free again
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", rush("r-8", "wx-200", 100, D2))
    assert [a.status for a in answers(router)] == ["resolved", "resolved"]


async def test_the_timer_expires_holds_once(router: Router) -> None:
    await two_plants(router)
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", rush("r-9", "wx-200", 100))
    await router.tick()
    assert released(router) == []
    router.now.value = ROUTED_AT + timedelta(hours=48)
    await router.tick()
    await router.tick()
    [release] = released(router)
    assert (release.reason, release.task_id) == ("expired", derived_id("task", "r-9"))


async def test_an_update_for_no_known_product_reads_as_the_line(router: Router) -> None:
    """An older plant's update (no products, no family) keeps its old meaning."""
    old = cloud_event(
        "cap-old",
        "production.capacity",
        {"plant": "kyoto", "line": "widgets", "as_of": "2026-11-20T00:00:00+00:00",
         "free": [{"date": D2, "units": 500}]},
    )  # fmt: skip
    await router.feed(CAPACITY_AGENT_NAME, b"x", old)
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", rush("r-10", "widgets", 500))
    assert [a.status for a in answers(router)] == ["resolved"]


async def test_a_bad_capacity_update_is_dead_lettered_with_the_field(router: Router) -> None:
    bad = capacity("hamamatsu-2", "l1", ["WX 300!"], {D2: 5})
    await router.feed(CAPACITY_AGENT_NAME, b"x", bad)
    [letter] = [json.loads(s.value) for s in router.producer.to(topics.DLQ)]
    assert "data.products.0" in letter["reason"]


async def test_the_routers_own_answer_is_counted_for_the_asking_department(
    router: Router,
) -> None:
    """Issue 16.10: the asker is the request's source (Salesforce: sales), not the team's
    department, in ``handoff_router_answer_latency_seconds`` as in the API's figures."""
    await two_plants(router)
    order = json.loads(rush("r-dept", "wx-200", 10, opportunity_id="006D"))
    order["source"] = "/sources/salesforce"
    await router.route(SALES_AGENT_NAME, b"crm:ACME-1", json.dumps(order).encode())
    assert len(answers(router)) == 1
    [team] = {t.team for t in routed(router)}
    count = "handoff_router_answer_latency_seconds_count"
    assert router.metric(count, team=team, department="sales") == 1.0
