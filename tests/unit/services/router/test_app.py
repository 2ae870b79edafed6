"""The agents, driven through Faust's ``agent.test_context()``: no broker.

Each agent yields one outcome per event, so ``put()`` returns only after the
event was fully handled. ``Router.pump`` hands what an agent sent to an
internal topic to the agent that consumes it, as the broker would.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas import topics
from schemas.dlq import DeadLetter
from schemas.events import CloudEvent, SlaSignal, TaskRouted, derived_id
from services.core.grouping import AccountIndex
from services.router.app import (
    AGENT_NAME,
    FEEDBACK_AGENT_NAME,
    SALES_AGENT_NAME,
    router_of,
    run_worker,
)
from services.router.handlers.intake import related_tasks as _related
from services.router.inbound import decode_incoming
from services.router.settings import RouterSettings
from services.rules.rules_file import read_routing_rules
from tests.unit.services.router.conftest import (
    REPO_ROOT,
    ROUTED_AT,
    Router,
    _close_unstarted_consumer,
    make_router,
)

pytestmark = pytest.mark.anyio

RAISED_AT = ROUTED_AT - timedelta(seconds=5)
EXAMPLE = REPO_ROOT / "deploy" / "config" / "routing.yaml"
RULES = read_routing_rules(EXAMPLE)


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
    return cloud_event(
        event_id, "support.ticket", {k: v for k, v in ticket.items() if v is not None}
    )


def sales_event(event_id: str = "note-1", **data: Any) -> bytes:
    note: dict[str, Any] = {
        "intent": "rush_order",
        "subject": "500 units by the 12th",
        "rep_email": "rep@handoff.example",
        "crm_account_id": "ACME-1",
        "product_line": "widgets",
        "quantity": 500,
        "due_date": "2026-12-12",
    }
    note.update(data)
    return cloud_event(event_id, "sales.note", note)


def capacity_event(
    event_id: str, free: dict[str, int], as_of: str = "2026-11-20T00:00:00+00:00"
) -> bytes:
    body = {
        "plant": "kyoto",
        "line": "widgets",
        "as_of": as_of,
        "free": [{"date": day, "units": units} for day, units in free.items()],
    }
    return cloud_event(event_id, "production.capacity", body)


def cloud_event(event_id: str, type_: str, data: dict[str, Any]) -> bytes:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "handoff/ingest/test",
        "type": type_,
        "time": RAISED_AT.isoformat(),
        "data": data,
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def feedback_event(task_id: str, type_: str) -> bytes:
    return cloud_event(f"fb-{type_}-{task_id}", type_, {"task_id": task_id}).replace(
        b'"type"', b'"subject":"' + task_id.encode() + b'","type"'
    )


def routed_tasks(router: Router, topic: str = topics.ROUTED) -> list[tuple[CloudEvent, TaskRouted]]:
    events = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topic)]
    return [(e, TaskRouted.model_validate(e.data)) for e in events]


async def test_a_ticket_is_routed_to_its_owner_with_the_rule_and_business_hours_sla(
    router: Router,
) -> None:
    assert await router.route(AGENT_NAME, b"example.co.jp", ticket_event()) == "routed"

    routed, billing = router.producer.to(topics.ROUTED), router.producer.to("handoff.team.billing")
    assert len(routed) == len(billing) == 1
    assert routed[0].value == billing[0].value
    assert routed[0].key == billing[0].key == b"example.co.jp"
    ((event, task),) = routed_tasks(router)
    assert event.type == "task.routed"
    assert event.id == derived_id("task.routed", "ev-1")
    assert task.task_id == derived_id("task", "ev-1")
    (expected,) = RULES.decide(decode_incoming(ticket_event(), "support.ticket").labels, RAISED_AT)
    assert expected.clocks is not None
    assert expected.clocks.acknowledge is not None
    assert (task.team, task.rule, task.route_id) == (
        "billing",
        expected.route_id,
        expected.route_id,
    )
    assert task.reason is not None
    assert "billing" in task.reason
    assert (task.rules_version, task.department, task.sla_policy) == (
        RULES.version,
        "engineering",
        "urgent",
    )
    # 18:00:00 JST on a Friday: the hour to acknowledge starts on Monday at 09:00
    assert task.sla_due == task.acknowledge_by == expected.clocks.acknowledge.due
    assert task.sla_due.isoformat() == "2026-11-23T01:00:00+00:00"
    assert (task.event_count, task.accounts) == (1, ["example.co.jp"])
    assert (task.raised_at, task.routed_at) == (RAISED_AT, ROUTED_AT)
    assert router.producer.to(topics.DLQ) == []


async def test_a_request_raised_long_before_it_reached_handoff_is_timed_from_its_receipt(
    router: Router,
) -> None:
    """Issue 10, defect 6: ingest stamps ``slastart`` on a backfilled ticket; the
    deadlines run from it, while ``raised_at`` keeps when the customer asked."""
    raised, received = RAISED_AT - timedelta(days=400), RAISED_AT
    event = json.loads(ticket_event("ev-old"))
    event.update(time=raised.isoformat(), slastart=received.isoformat())
    value = json.dumps(event, ensure_ascii=False).encode("utf-8")

    await router.route(AGENT_NAME, b"example.co.jp", value)

    ((_, task),) = routed_tasks(router)
    (expected,) = RULES.decide(decode_incoming(value, "support.ticket").labels, received)
    assert expected.clocks is not None
    assert expected.clocks.acknowledge is not None
    assert task.sla_due == task.acknowledge_by == expected.clocks.acknowledge.due
    assert (task.raised_at, task.sla_started_at) == (raised, received)


async def test_japanese_text_survives_byte_for_byte(router: Router) -> None:
    subject, description = "アプリが起動直後に落ちる", "iOS 18 で起動するとすぐに終了します。"
    value = ticket_event(subject=subject, description=description, component="mobile-app")
    await router.route(AGENT_NAME, b"example.co.jp", value)
    (sent,) = router.producer.to("handoff.team.mobile")
    assert subject.encode("utf-8") in sent.value
    task = TaskRouted.model_validate(CloudEvent.from_bytes(sent.value).data)
    assert (task.subject, task.description) == (subject, description)


async def test_a_ticket_without_a_component_goes_to_the_default_team(router: Router) -> None:
    await router.route(AGENT_NAME, b"acme.com", ticket_event(component=None, priority="low"))
    ((_, task),) = routed_tasks(router, "handoff.team.support-triage")
    assert (task.route_id, task.sla_policy) == ("/", "standard")


async def test_a_sales_note_is_routed_by_its_intent_and_keyed_by_its_account(
    router: Router,
) -> None:
    note = sales_event("won-1", intent="deal_won", subject="受注しました")
    assert await router.route(SALES_AGENT_NAME, b"crm:ACME-1", note) == "routed"
    ((_event, task),) = routed_tasks(router, "handoff.team.marketing")
    assert router.producer.to("handoff.team.marketing")[0].key == b"crm:ACME-1"
    assert (task.account, task.team, task.labels) == (
        "crm:ACME-1",
        "marketing",
        {"feedback": "lead-quality"},
    )
    assert (task.subject, task.requester_email) == ("受注しました", "rep@handoff.example")
    assert task.task_id == derived_id("task", "won-1")


async def test_continue_gives_one_task_per_team_with_ids_from_the_route(tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "teams: {triage: {}, l2: {}, billing: {}}\n"
        "route:\n  team: triage\n  group_by: [id]\n  routes:\n"
        "    - {matchers: ['priority=\"urgent\"'], team: l2, continue: true}\n"
        "    - {matchers: ['component=\"billing-ui\"'], team: billing}\n"
    )
    router = make_router(tmp_path, rules)
    try:
        await router.route(AGENT_NAME, b"example.co.jp", ticket_event("multi"))
        tasks = {task.team: task for _, task in routed_tasks(router)}
        assert sorted(tasks) == ["billing", "l2"]
        assert tasks["l2"].task_id == derived_id("task", "multi")
        assert tasks["billing"].task_id == derived_id(
            "task", "multi", tasks["billing"].route_id or ""
        )
        assert (
            len(router.producer.to("handoff.team.l2"))
            == len(router.producer.to("handoff.team.billing"))
            == 1
        )
    finally:
        _close_unstarted_consumer(router.app)


async def test_a_burst_about_one_component_from_three_accounts_is_one_task(router: Router) -> None:
    emails = ["a@acme.example", "b@acme.example", "c@globex.example", "d@initech.example"]
    for n, email in enumerate(emails):
        value = ticket_event(
            f"burst-{n}", requester_email=email, component="reports", priority="normal"
        )
        await router.route(AGENT_NAME, email.split("@")[1].encode(), value)

    updates = routed_tasks(router, "handoff.team.analytics")
    assert {task.task_id for _, task in updates} == {derived_id("task", "burst-0")}
    assert [task.event_count for _, task in updates] == [1, 2, 3, 4]
    last = updates[-1][1]
    assert last.accounts == ["acme.example", "globex.example", "initech.example"]
    assert len(last.requesters) == 4
    assert last.event_ids == [f"burst-{n}" for n in range(4)]
    assert last.summary == "4 requests from 4 requesters, 3 accounts"
    assert len({event.id for event, _ in updates}) == 4  # each update its own event id


async def test_a_duplicate_event_is_counted_not_emitted_again(router: Router) -> None:
    assert await router.route(AGENT_NAME, b"example.co.jp", ticket_event("ev-dup")) == "routed"
    assert await router.route(AGENT_NAME, b"example.co.jp", ticket_event("ev-dup")) == "routed"
    assert ("group_routed_decision", "duplicate") in router.outcomes
    assert len(router.producer.to("handoff.team.billing")) == 1
    assert router.metric("handoff_router_events_total", outcome="duplicate") == 1


async def test_related_tasks_of_the_same_account_travel_with_a_new_task(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("first", component="login"))
    quote_note = sales_event(
        "quote", intent="quote_request", crm_account_id=None, customer_email="buyer@example.co.jp"
    )
    await router.route(SALES_AGENT_NAME, b"example.co.jp", quote_note)
    ((_, quote),) = routed_tasks(router, "handoff.team.sales-desk")
    assert [(r.task_id, r.team, r.department, r.state) for r in quote.related] == [
        (derived_id("task", "first"), "identity", "engineering", "open")
    ]


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
    assert await router.route(AGENT_NAME, b"acme.com", value) == "dead_lettered"
    assert await router.route(AGENT_NAME, b"example.co.jp", ticket_event("after")) == "routed"

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


async def test_an_unacknowledged_send_is_retried_not_dropped(router: Router) -> None:
    router.producer.fail_next = 1
    assert await router.route(AGENT_NAME, b"example.co.jp", ticket_event("ev-retry")) == "routed"
    assert len(router.producer.to(topics.ROUTED)) == 1
    assert router.metric("handoff_router_send_retries_total") == 1


async def test_sla_signals_come_due_once_and_a_breach_escalates(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("late", component=None))
    ((_, task),) = routed_tasks(router, "handoff.team.support-l2")
    assert task.acknowledge_by is not None
    router.now.value = task.acknowledge_by + timedelta(seconds=1)
    await router.tick()
    await router.tick()  # the timer fires again: nothing new

    signals = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topics.SLA)]
    assert [(e.type, SlaSignal.model_validate(e.data).clock) for e in signals] == [
        ("sla.at_risk", "acknowledge"),
        ("sla.breached", "acknowledge"),
    ]
    assert signals[1].id == derived_id("sla.breached", task.task_id, "sla.breached:acknowledge")
    assert SlaSignal.model_validate(signals[1].data).escalate_to == "support-lead"
    ((_, escalated),) = routed_tasks(router, "handoff.team.support-lead")
    assert (escalated.task_id, escalated.escalated_from) == (task.task_id, "support-l2")
    assert router.metric("handoff_router_sla_events_total", type="sla.breached") == 1


async def test_acknowledging_stops_the_acknowledge_clock(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("acked", component=None))
    ((_, task),) = routed_tasks(router, "handoff.team.support-l2")
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", feedback_event(task.task_id, "task.acknowledged")
    )
    await router.pump()
    assert task.acknowledge_by is not None
    assert task.resolve_by is not None
    router.now.value = task.acknowledge_by + timedelta(minutes=5)
    await router.tick()
    assert router.producer.to(topics.SLA) == []
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", feedback_event(task.task_id, "task.resolved")
    )
    await router.pump()
    router.now.value = task.resolve_by + timedelta(minutes=5)
    await router.tick()
    assert router.producer.to(topics.SLA) == []


async def test_a_resolved_task_frees_its_group(router: Router) -> None:
    first = ticket_event("g-1", component="reports", priority="normal")
    await router.route(AGENT_NAME, b"example.co.jp", first)
    task_id = derived_id("task", "g-1")
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", feedback_event(task_id, "task.resolved")
    )
    await router.pump()
    await router.route(
        AGENT_NAME, b"example.co.jp", ticket_event("g-2", component="reports", priority="normal")
    )
    ids = [task.task_id for _, task in routed_tasks(router, "handoff.team.analytics")]
    assert ids == [task_id, derived_id("task", "g-2")]


# Rush orders, capacity and holds: tests/unit/services/router/test_capacity_agents.py


async def test_the_worker_refuses_to_start_with_a_bad_rule_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing-rules.yaml"
    with pytest.raises(SystemExit) as exited:
        run_worker(RouterSettings(router_rules_file=missing, kafka_bootstrap="127.0.0.1:1"))
    assert str(missing) in str(exited.value.code)
    assert "cannot read the rule file" in str(exited.value.code)


async def test_a_dead_workers_partitions_move_after_the_routers_session_timeout(
    router: Router,
) -> None:
    """Issue 10, defect 2: Faust's default session timeout (60 s) left a killed worker's
    partitions standing that long; the router's own default is 8 s, heartbeats 1 s."""
    defaults = RouterSettings()
    assert (defaults.router_session_timeout_s, defaults.router_heartbeat_interval_s) == (8, 1)
    assert router.app.conf.broker_session_timeout == defaults.router_session_timeout_s
    assert router.app.conf.broker_heartbeat_interval == defaults.router_heartbeat_interval_s


@pytest.mark.parametrize("seconds", [5.9, 301.0])
def test_a_session_timeout_the_broker_refuses_is_refused_at_start(seconds: float) -> None:
    with pytest.raises(ValueError, match="router_session_timeout_s"):
        RouterSettings(router_session_timeout_s=seconds)


def test_heartbeats_slower_than_three_per_session_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="router_heartbeat_interval_s"):
        RouterSettings(router_session_timeout_s=8, router_heartbeat_interval_s=3)


# --- reassignment -------------------------------------------------------------------------


def reassigned_event(task_id: str, team: str, at: datetime, message: str = "not ours") -> bytes:
    """What the API puts on handoff.feedback when a team hands a task over."""
    event = {
        "specversion": "1.0",
        "id": derived_id("task.reassigned", task_id, at.isoformat()),
        "source": "/handoff/api",
        "type": "task.reassigned",
        "subject": task_id,
        "time": at.isoformat(),
        "data": {"task_id": task_id, "team": team, "status": "reassigned", "message": message},
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def sla_signals(router: Router) -> list[tuple[str, str, str]]:
    events = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topics.SLA)]
    return [(e.type, SlaSignal.model_validate(e.data).team, e.id) for e in events]


async def test_a_reassigned_task_goes_to_the_new_team_with_restarted_clocks(
    router: Router,
) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("moved", component=None))
    ((_, task),) = routed_tasks(router, "handoff.team.support-l2")
    assert task.acknowledge_by is not None
    assert task.sla_policy == "urgent"
    router.now.value = task.acknowledge_by - timedelta(minutes=1)
    await router.tick()  # the old team's at-risk went out
    assert [t for t, _, _ in sla_signals(router)] == ["sla.at_risk"]

    handed_at = router.now.value
    await router.feed(
        FEEDBACK_AGENT_NAME,
        b"example.co.jp",
        reassigned_event(task.task_id, "billing", handed_at, "請求の不具合です"),
    )
    await router.pump()

    ((event, moved),) = routed_tasks(router, "handoff.team.billing")
    assert (moved.task_id, moved.team, moved.reassigned_from) == (
        task.task_id,
        "billing",
        "support-l2",
    )
    assert moved.reason == "reassigned by support-l2: 請求の不具合です"
    assert moved.department == "engineering"
    policy = RULES.policies["urgent"]
    fresh = policy.clocks(handed_at)
    assert fresh.acknowledge is not None
    assert fresh.resolve is not None
    assert (moved.acknowledge_by, moved.resolve_by) == (fresh.acknowledge.due, fresh.resolve.due)
    assert moved.acknowledge_by is not None
    assert moved.acknowledge_by > task.acknowledge_by
    assert event.id in {
        CloudEvent.from_bytes(s.value).id for s in router.producer.to(topics.ROUTED)
    }
    assert router.metric("handoff_router_reassigned_total", team="billing") == 1

    # the old deadline passes: restarted, nothing breaches for anyone
    router.now.value = task.acknowledge_by + timedelta(seconds=1)
    await router.tick()
    assert len(sla_signals(router)) == 1

    # the new one passes: the new team is warned and breaches, under new ids, and escalates
    router.now.value = moved.acknowledge_by + timedelta(seconds=1)
    await router.tick()
    later = sla_signals(router)[1:]
    assert [(t, team) for t, team, _ in later] == [
        ("sla.at_risk", "billing"),
        ("sla.breached", "billing"),
    ]
    old_id = derived_id("sla.at_risk", task.task_id, "sla.at_risk:acknowledge")
    assert later[0][2] != old_id
    ((_, escalated),) = routed_tasks(router, "handoff.team.eng-oncall")
    assert (escalated.task_id, escalated.escalated_from) == (task.task_id, "billing")


async def test_events_joining_a_reassigned_group_go_to_the_new_team(router: Router) -> None:
    first = ticket_event("join-1", component="reports", priority="normal")
    await router.route(AGENT_NAME, b"example.co.jp", first)
    task_id = derived_id("task", "join-1")
    at = ROUTED_AT + timedelta(minutes=5)
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", reassigned_event(task_id, "platform", at)
    )
    await router.pump()
    second = ticket_event("join-2", component="reports", priority="normal")
    assert await router.route(AGENT_NAME, b"example.co.jp", second) == "routed"
    to_platform = [t for _, t in routed_tasks(router, "handoff.team.platform")]
    assert [(t.task_id, t.event_count) for t in to_platform] == [(task_id, 1), (task_id, 2)]
    assert len(routed_tasks(router, "handoff.team.analytics")) == 1  # before the handover only


async def test_a_replayed_reassignment_re_routes_once(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("twice", component=None))
    task_id = derived_id("task", "twice")
    handed = reassigned_event(task_id, "identity", ROUTED_AT + timedelta(minutes=1))
    for _ in range(2):
        await router.feed(FEEDBACK_AGENT_NAME, b"example.co.jp", handed)
        await router.pump()
    assert len(routed_tasks(router, "handoff.team.identity")) == 1


async def test_a_reassignment_to_a_team_the_rules_do_not_know_is_dead_lettered(
    router: Router,
) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("lost", component=None))
    task_id = derived_id("task", "lost")
    at = ROUTED_AT + timedelta(minutes=1)
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", reassigned_event(task_id, "nobody", at)
    )
    await router.pump()
    (parked,) = router.producer.to(topics.DLQ)
    letter = DeadLetter.from_bytes(parked.value)
    assert letter.error_type == "UnknownTeam"
    assert "'nobody'" in letter.reason
    assert task_id in letter.reason
    assert routed_tasks(router, "handoff.team.nobody") == []


async def test_a_reassignment_before_the_clock_started_is_applied_when_it_starts(
    router: Router,
) -> None:
    task_id = derived_id("task", "early")
    at = ROUTED_AT + timedelta(minutes=1)
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", reassigned_event(task_id, "mobile", at)
    )
    await router.pump()  # no clock yet: kept for when the task's start arrives
    assert routed_tasks(router, "handoff.team.mobile") == []
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("early", component=None))
    ((_, moved),) = routed_tasks(router, "handoff.team.mobile")
    assert (moved.task_id, moved.reassigned_from) == (task_id, "support-l2")


# --- ticket updates ------------------------------------------------------------------------


def ticket_update(event_id: str = "upd-1", **data: Any) -> bytes:
    update: dict[str, Any] = {
        "ticket_id": "ZD-1042",
        "ticket_event_id": "ev-1",
        "requester_email": "taro@example.co.jp",
        "change": "comment",
        "comment": "急ぎでお願いします",
        "comment_public": True,
        "updated_at": ROUTED_AT.isoformat(),
    }
    update.update(data)
    return cloud_event(event_id, "support.ticket_updated", update)


async def test_a_ticket_update_is_passed_on_to_its_task_not_routed_again(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("ev-1"))
    update = ticket_update()
    assert await router.route(AGENT_NAME, b"example.co.jp", update) == "forwarded"
    (forwarded,) = [s for s in router.producer.to(topics.ROUTED) if s.value == update]
    assert forwarded.key == b"example.co.jp"
    assert len(routed_tasks(router, "handoff.team.billing")) == 1  # no second task
    assert router.metric("handoff_router_events_total", outcome="forwarded") == 1
    assert router.producer.to(topics.DLQ) == []


async def test_an_invalid_ticket_update_is_dead_lettered_with_the_field(router: Router) -> None:
    update = ticket_update(change="shrug")
    assert await router.route(AGENT_NAME, b"example.co.jp", update) == "dead_lettered"
    (parked,) = router.producer.to(topics.DLQ)
    letter = DeadLetter.from_bytes(parked.value)
    assert letter.error_type == "InvalidTicketUpdated"
    assert "data.change" in letter.reason
    assert router.producer.to(topics.ROUTED) == []


async def test_what_the_timer_remembers_goes_with_the_closed_task(router: Router) -> None:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event("gone", component=None))
    ((_, task),) = routed_tasks(router, "handoff.team.support-l2")
    assert task.acknowledge_by is not None
    router.now.value = task.acknowledge_by + timedelta(seconds=1)
    await router.tick()
    assert router_of(router.app).signalled_tasks() == 1
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", feedback_event(task.task_id, "task.resolved")
    )
    await router.pump()
    assert router_of(router.app).signalled_tasks() == 0


# --- reopening -----------------------------------------------------------------------------


def changed(task_id: str, type_: str, at: datetime, message: str = "") -> bytes:
    """A lifecycle event of the API's, at ``at``."""
    event = {
        "specversion": "1.0",
        "id": derived_id(type_, task_id, at.isoformat()),
        "source": "/handoff/api",
        "type": type_,
        "subject": task_id,
        "time": at.isoformat(),
        "data": {"task_id": task_id, "message": message},
    }
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


async def resolved_task(router: Router, event_id: str) -> tuple[TaskRouted, datetime]:
    await router.route(AGENT_NAME, b"example.co.jp", ticket_event(event_id, component=None))
    ((_, task),) = routed_tasks(router, "handoff.team.support-l2")
    closed_at = ROUTED_AT + timedelta(minutes=30)
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", changed(task.task_id, "task.resolved", closed_at)
    )
    await router.pump()
    return task, closed_at


async def test_a_reopened_task_goes_back_to_its_team_with_fresh_clocks(router: Router) -> None:
    task, closed_at = await resolved_task(router, "again")
    reopened_at = closed_at + timedelta(days=2)
    router.now.value = reopened_at
    await router.feed(
        FEEDBACK_AGENT_NAME,
        b"example.co.jp",
        changed(task.task_id, "task.reopened", reopened_at, "まだ直っていません"),
    )
    await router.pump()

    (_, back) = routed_tasks(router, "handoff.team.support-l2")[-1]
    assert (back.task_id, back.team, back.reopened_at) == (task.task_id, "support-l2", reopened_at)
    assert back.reason == "reopened: まだ直っていません"
    fresh = RULES.policies["urgent"].clocks(reopened_at)
    assert fresh.acknowledge is not None
    assert back.acknowledge_by == fresh.acknowledge.due
    assert back.task_id in {t.task_id for _, t in routed_tasks(router)}

    router.now.value = fresh.acknowledge.due + timedelta(seconds=1)
    await router.tick()
    signals = sla_signals(router)
    assert [(t, team) for t, team, _ in signals] == [
        ("sla.at_risk", "support-l2"),
        ("sla.breached", "support-l2"),
    ]
    assert signals[1][2] != derived_id("sla.breached", task.task_id, "sla.breached:acknowledge")


async def test_a_reopened_task_can_be_reassigned(router: Router) -> None:
    task, closed_at = await resolved_task(router, "reopen-move")
    at = closed_at + timedelta(hours=1)
    await router.feed(
        FEEDBACK_AGENT_NAME, b"example.co.jp", changed(task.task_id, "task.reopened", at)
    )
    await router.pump()
    handed = reassigned_event(task.task_id, "billing", at + timedelta(minutes=1))
    await router.feed(FEEDBACK_AGENT_NAME, b"example.co.jp", handed)
    await router.pump()
    ((_, moved),) = routed_tasks(router, "handoff.team.billing")
    assert (moved.task_id, moved.reassigned_from) == (task.task_id, "support-l2")


async def test_past_the_reopen_window_a_closed_task_is_forgotten(router: Router) -> None:
    task, closed_at = await resolved_task(router, "too-late")
    router.now.value = closed_at + timedelta(days=7, seconds=1)  # the default window
    await router.tick()  # forgets the closed clock
    assert router_of(router.app).signalled_tasks() == 0
    late = changed(task.task_id, "task.reopened", router.now.value)
    await router.feed(FEEDBACK_AGENT_NAME, b"example.co.jp", late)
    await router.pump()
    assert len(routed_tasks(router, "handoff.team.support-l2")) == 1  # not routed again
    assert router.producer.to(topics.DLQ) == []


def test_a_task_names_at_most_the_accounts_twenty_latest_other_open_tasks() -> None:
    index = AccountIndex()
    for n in range(25):
        index = index.add(f"t{n}", "example.co.jp", "billing", "open")
    related = _related(json.dumps(index.to_dict()), "example.co.jp", RULES)
    assert [t.task_id for t in related] == [f"t{n}" for n in range(5, 25)]
    assert {t.department for t in related} == {"engineering"}
