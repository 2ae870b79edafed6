"""The agent, driven through Faust's ``agent.test_context()``: no broker.

The agent yields one outcome per event, so ``put()`` returns only after the
event was fully handled (for an agent that does not yield, ``put()`` returns
as soon as the value enters the stream, before the agent body ran).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import CloudEvent, TaskRouted, derived_id
from services.router.app import run_worker
from services.router.settings import RouterSettings
from tests.unit.services.router.conftest import ROUTED_AT, Router

pytestmark = pytest.mark.anyio

RAISED_AT = ROUTED_AT - timedelta(seconds=5)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ticket_event(event_id: str = "ev-1", **data: Any) -> bytes:
    ticket: dict[str, Any] = {
        "ticket_id": "ZD-1042",
        "subject": "請求書の画面が分かりにくい",
        "description": "<p>支払い方法の変更ボタンが見つかりません</p>",
        "requester_email": "taro@example.co.jp",
        "priority": "urgent",
        "component": "billing-ui",
    }
    ticket.update(data)
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "handoff/ingest/support",
        "type": "support.ticket",
        "time": RAISED_AT.isoformat(),
        "data": ticket,
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def routed_task(value: bytes) -> tuple[CloudEvent, TaskRouted]:
    event = CloudEvent.from_bytes(value)
    return event, TaskRouted.model_validate(event.data)


async def test_a_ticket_is_routed_to_its_team_with_the_sla(router: Router) -> None:
    async with router.agent.test_context() as agent:
        await agent.put(key=b"example.co.jp", value=ticket_event())
        assert agent.results == {0: "routed"}

    routed, billing = router.producer.to(topics.ROUTED), router.producer.to("handoff.team.billing")
    assert len(routed) == len(billing) == 1
    assert routed[0].value == billing[0].value
    assert routed[0].key == billing[0].key == b"example.co.jp"
    event, task = routed_task(routed[0].value)
    assert event.type == "task.routed"
    assert event.id == derived_id("task.routed", "ev-1")
    assert task.task_id == derived_id("task", "ev-1")
    assert (task.team, task.rule) == ("billing", "component:billing-ui")
    assert task.sla_due == RAISED_AT + timedelta(hours=1)
    assert (task.raised_at, task.routed_at) == (RAISED_AT, ROUTED_AT)
    assert router.producer.to(topics.DLQ) == []


async def test_japanese_text_survives_byte_for_byte(router: Router) -> None:
    subject, description = "アプリが起動直後に落ちる", "iOS 18 で起動するとすぐに終了します。"
    async with router.agent.test_context() as agent:
        await agent.put(
            key=b"example.co.jp",
            value=ticket_event(subject=subject, description=description, component="mobile-app"),
        )
    (sent,) = router.producer.to("handoff.team.mobile")
    assert subject.encode("utf-8") in sent.value
    _, task = routed_task(sent.value)
    assert (task.subject, task.description) == (subject, description)


async def test_an_unowned_component_goes_to_the_default_team(router: Router) -> None:
    async with router.agent.test_context() as agent:
        await agent.put(key=b"acme.com", value=ticket_event(component="fax", priority="low"))
    (sent,) = router.producer.to("handoff.team.support-triage")
    _, task = routed_task(sent.value)
    assert (task.rule, task.sla_due) == ("default", RAISED_AT + timedelta(days=3))


async def test_a_duplicate_event_id_is_counted_not_emitted_again(router: Router) -> None:
    async with router.agent.test_context() as agent:
        await agent.put(key=b"example.co.jp", value=ticket_event("ev-dup"))
        await agent.put(key=b"example.co.jp", value=ticket_event("ev-dup"))
        await agent.put(key=b"example.co.jp", value=ticket_event("ev-other"))
        assert agent.results == {0: "routed", 1: "duplicate", 2: "routed"}

    routed_ids = [CloudEvent.from_bytes(s.value).id for s in router.producer.to(topics.ROUTED)]
    assert routed_ids == [
        derived_id("task.routed", "ev-dup"),
        derived_id("task.routed", "ev-other"),
    ]
    assert len(router.producer.to("handoff.team.billing")) == 2
    # the table remembered the ids (and wrote them to its changelog)
    changelog = [(f.message.key, f.message.value) for f in router.producer.changelog]
    assert changelog == [
        (b'"ev-dup"', f'"{derived_id("task", "ev-dup")}"'.encode()),
        (b'"ev-other"', f'"{derived_id("task", "ev-other")}"'.encode()),
    ]
    assert router.metric("handoff_router_events_total", outcome="duplicate") == 1


@pytest.mark.parametrize(
    ("value", "error_type", "says"),
    [
        (b"\xffnot json at all", "InvalidJson", "not JSON"),
        (b'{"hello": "world"}', "InvalidCloudEvent", "not a CloudEvent"),
        (ticket_event().replace(b"support.ticket", b"sales.note"), "UnexpectedEventType", "sales"),
        (ticket_event(requester_email="nobody"), "InvalidSupportTicket", "requester_email"),
        (None, "EmptyMessage", "no value"),
    ],
)
async def test_poison_goes_to_the_dead_letter_topic_and_the_agent_goes_on(
    router: Router, value: bytes | None, error_type: str, says: str
) -> None:
    async with router.agent.test_context() as agent:
        await agent.put(key=b"acme.com", value=value)
        await agent.put(key=b"example.co.jp", value=ticket_event("ev-after-poison"))
        assert agent.results == {0: "dead_lettered", 1: "routed"}

    (parked,) = router.producer.to(topics.DLQ)
    assert parked.key == b"acme.com"
    letter = DeadLetter.from_bytes(parked.value)
    assert letter.error_type == error_type
    assert says in letter.reason
    assert (letter.topic, letter.partition, letter.offset) == (topics.INGEST_SUPPORT, 0, 0)
    assert letter.original_value() == (value or b"")
    assert (letter.service, letter.at) == ("router", ROUTED_AT)
    assert len(router.producer.to(topics.ROUTED)) == 1
    assert router.metric("handoff_router_events_total", outcome="dead_lettered") == 1
    assert router.metric("handoff_router_events_total", outcome="routed") == 1


async def test_metrics_count_outcomes_teams_and_latency(router: Router) -> None:
    async with router.agent.test_context() as agent:
        await agent.put(key=b"example.co.jp", value=ticket_event("a"))
        await agent.put(key=b"example.co.jp", value=ticket_event("b", component="login"))
        await agent.put(key=b"example.co.jp", value=ticket_event("b", component="login"))
    assert router.metric("handoff_router_events_total", outcome="routed") == 2
    assert router.metric("handoff_router_events_total", outcome="duplicate") == 1
    assert router.metric("handoff_router_routed_total", team="billing") == 1
    assert router.metric("handoff_router_routed_total", team="identity") == 1
    assert router.metric("handoff_router_routed_total", team="mobile") == 0
    assert router.metric("handoff_router_route_latency_seconds_count") == 2
    assert router.metric("handoff_router_route_latency_seconds_sum") == 10.0
    assert router.metric("handoff_router_processing_seconds_count") == 3


async def test_an_unacknowledged_send_is_retried_not_dropped(router: Router) -> None:
    router.producer.fail_next = 1
    async with router.agent.test_context() as agent:
        await agent.put(key=b"example.co.jp", value=ticket_event("ev-retry"))
        assert agent.results == {0: "routed"}
    assert len(router.producer.to(topics.ROUTED)) == 1
    assert len(router.producer.to("handoff.team.billing")) == 1
    assert router.metric("handoff_router_send_retries_total") == 1


async def test_the_worker_refuses_to_start_with_a_bad_rule_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing-rules.yaml"
    with pytest.raises(SystemExit) as exited:
        run_worker(RouterSettings(router_rules_file=missing, kafka_bootstrap="127.0.0.1:1"))
    assert str(missing) in str(exited.value.code)
    assert "cannot read the rule file" in str(exited.value.code)
