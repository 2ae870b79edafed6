"""Issue 16.1/16.2/16.5 in the router: one task per problem, its terms follow its most urgent
request, a priority change is an update of the same task, an escalation reaches the API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from schemas import topics
from schemas.events import CloudEvent, TaskRouted, derived_id
from services.router.app import AGENT_NAME, FEEDBACK_AGENT_NAME
from services.router.clock_table import decode_state
from services.router.handlers.base import Table
from tests.unit.services.router.conftest import Router
from tests.unit.services.router.test_app import (
    RAISED_AT,
    RULES,
    feedback_event,
    routed_tasks,
    ticket_event,
)

pytestmark = pytest.mark.anyio
BILLING = "handoff.team.billing"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def deadlines(priority: str) -> tuple[object, object]:
    labels = {"type": "support.ticket", "component": "billing-ui", "priority": priority}
    (decision,) = RULES.decide(labels, RAISED_AT)
    assert decision.clocks is not None
    return decision.clocks.deadlines


def clock_of(router: Router, task_id: str) -> TaskRouted:
    """The task.routed its SLA clock holds (what an escalation or a reassignment re-sends)."""
    clocks: Table = router.app.tables["task_ids_to_clocks"]
    state = decode_state(clocks[task_id])
    routed = state.clock.routed  # type: ignore[union-attr]
    return TaskRouted.model_validate(routed["data"])


async def ticket(
    router: Router, event_id: str, priority: str, account: str = "acme.example"
) -> str:
    """Route a billing-ui ticket; what became of it in its group (routed, joined, updated...)."""
    value = ticket_event(event_id, priority=priority, requester_email=f"x@{account}")
    await router.route(AGENT_NAME, account.encode(), value)
    return [outcome for agent, outcome in router.outcomes if agent == "group_routed_decision"][-1]


async def test_mixed_priorities_from_three_accounts_are_one_task_that_follows_the_most_urgent(
    router: Router,
) -> None:
    await ticket(router, "t-normal", "normal", "acme.example")
    await ticket(router, "t-high", "high", "globex.example")
    await ticket(router, "t-low", "low", "initech.example")
    await ticket(router, "t-urgent", "urgent", "acme.example")
    await ticket(router, "t-normal-2", "normal", "globex.example")

    sent = routed_tasks(router, BILLING)
    assert {task.task_id for _, task in sent} == {derived_id("task", "t-normal")}
    assert [task.event_count for _, task in sent] == [1, 2, 3, 4, 5]
    causes = [
        (task.update.cause, task.update.revision) if task.update else None for _, task in sent
    ]
    assert causes == [None, ("request_joined", 1), None, ("request_joined", 2), None]
    urgent_ack, urgent_resolve = deadlines("urgent")
    last = sent[-1][1]
    assert (last.priority, last.sla_policy, last.acknowledge_by) == ("urgent", "urgent", urgent_ack)
    assert last.resolve_by == urgent_resolve
    assert clock_of(router, last.task_id).priority == "urgent"  # the clock runs to it too
    assert sent[3][1].update is not None
    changed = {c.name: (c.before, c.after) for c in sent[3][1].update.changes}
    assert changed["priority"] == ("high", "urgent")


async def test_a_priority_change_updates_the_same_task_once(router: Router) -> None:
    assert await ticket(router, "zd-1", "high") == "routed"
    assert await ticket(router, "zd-1", "urgent") == "updated"  # the webhook of the change
    assert await ticket(router, "zd-1", "urgent") == "duplicate"  # Zendesk retried it

    on_team, on_routed = routed_tasks(router, BILLING), routed_tasks(router)
    assert [e.id for e, _ in on_team] == [e.id for e, _ in on_routed]
    assert len(on_team) == 2
    (_, first), (event, updated) = on_team
    assert updated.task_id == first.task_id
    assert event.id == derived_id("task.routed", first.task_id, "update", "1")
    assert updated.update is not None
    assert (updated.update.cause, updated.update.request_event_id) == ("priority_changed", "zd-1")
    urgent_ack, _ = deadlines("urgent")
    high_ack, _ = deadlines("high")
    assert (first.acknowledge_by, updated.acknowledge_by) == (high_ack, urgent_ack)
    assert updated.sla_due == urgent_ack
    assert updated.event_count == 1
    assert clock_of(router, first.task_id).acknowledge_by == urgent_ack


async def test_a_lower_priority_relaxes_a_single_requests_deadlines(router: Router) -> None:
    await ticket(router, "zd-2", "urgent")
    assert await ticket(router, "zd-2", "normal") == "updated"
    (_, updated) = routed_tasks(router, BILLING)[-1]
    assert (updated.priority, updated.acknowledge_by) == ("normal", deadlines("normal")[0])


async def test_a_lower_priority_on_one_request_leaves_the_tasks_terms(router: Router) -> None:
    await ticket(router, "zd-3", "urgent")
    await ticket(router, "zd-4", "high", "globex.example")
    sent_before = len(router.producer.sent)
    assert await ticket(router, "zd-4", "low", "globex.example") == "duplicate"
    new = [s for s in router.producer.sent[sent_before:] if s.topic in (BILLING, topics.ROUTED)]
    assert new == []  # the task still follows zd-3, urgent
    assert routed_tasks(router, BILLING)[-1][1].priority == "urgent"


async def test_the_retimed_clock_signals_by_the_new_deadline(router: Router) -> None:
    await ticket(router, "zd-5", "normal")
    await ticket(router, "zd-5", "urgent")
    urgent_ack, _ = deadlines("urgent")
    assert isinstance(urgent_ack, type(RAISED_AT))
    router.now.value = urgent_ack + timedelta(seconds=1)
    await router.tick()
    signals = [CloudEvent.from_bytes(s.value) for s in router.producer.to(topics.SLA)]
    assert [e.type for e in signals] == ["sla.at_risk", "sla.breached"]
    assert all(json.loads(json.dumps(e.data))["due"] for e in signals)


async def test_an_escalated_task_reaches_the_api_and_the_escalation_team(router: Router) -> None:
    await ticket(router, "zd-6", "urgent")
    ((_, task),) = routed_tasks(router, BILLING)
    assert task.acknowledge_by is not None
    router.now.value = task.acknowledge_by + timedelta(seconds=1)
    await router.tick()
    ((_, to_oncall),) = routed_tasks(router, "handoff.team.eng-oncall")
    escalated = [t for _, t in routed_tasks(router) if t.escalated_from]
    assert [(t.task_id, t.team, t.escalated_from) for t in escalated] == [
        (task.task_id, "eng-oncall", "billing")
    ]
    assert to_oncall == escalated[0]
    await router.pump()  # the clock recorded the breach: the group learns who has the task
    await ticket(router, "zd-6b", "normal", "globex.example")
    joined = routed_tasks(router, "handoff.team.eng-oncall")[-1][1]
    assert (joined.task_id, joined.team, joined.event_count) == (task.task_id, "eng-oncall", 2)
    assert routed_tasks(router, BILLING)[-1][1].event_count == 1


async def test_a_change_that_drops_the_component_still_updates_the_same_billing_task(
    router: Router,
) -> None:
    """A Zendesk trigger's payload may leave a field out: the ticket then matches another team's
    route (support-l2), but a request routed before only updates the task it is in."""
    await ticket(router, "zd-7", "normal")
    value = ticket_event(
        "zd-7", priority="urgent", component=None, requester_email="x@acme.example"
    )
    await router.route(AGENT_NAME, b"acme.example", value)
    assert routed_tasks(router, "handoff.team.support-l2") == []
    (_, first), (_, updated) = routed_tasks(router, BILLING)
    assert (updated.task_id, updated.team, updated.priority) == (first.task_id, "billing", "urgent")
    assert updated.update is not None
    assert updated.update.cause == "priority_changed"


async def test_a_request_come_again_after_its_task_closed_opens_nothing(router: Router) -> None:
    await ticket(router, "zd-8", "normal")
    ((_, task),) = routed_tasks(router, BILLING)
    resolved = feedback_event(task.task_id, "task.resolved")
    await router.route(FEEDBACK_AGENT_NAME, b"acme.example", resolved)
    await ticket(router, "zd-9", "normal")  # a new task in the freed group
    assert await ticket(router, "zd-8", "urgent") == "duplicate"
    assert {t.task_id for _, t in routed_tasks(router, BILLING)} == {
        task.task_id,
        derived_id("task", "zd-9"),
    }
    assert routed_tasks(router, BILLING)[-1][1].priority == "normal"
