"""What one task counts for in the figures (issue 16, items 11-12; issue 12's rollups)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.api.tally import (
    ANSWERED,
    FEEDBACK,
    FEEDBACK_TASK,
    OPEN,
    OPEN_REQUESTS,
    REQUESTS,
    ROUTER,
    TEAM,
    OriginFacts,
    TaskFacts,
    diff,
    increments,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def grouped(state: str = "resolved", answered_by: str = TEAM) -> TaskFacts:
    """Four tickets (support, via two helpdesks) in one billing task, answered at 11:00."""
    answered = T0 + timedelta(hours=2) if state == "resolved" else None
    origins = tuple(
        OriginFacts(source, T0 + timedelta(minutes=10 * i), answered)
        for i, source in enumerate(["/sources/zendesk"] * 3 + ["/sources/freshdesk"])
    )
    return TaskFacts(
        task_id="t", department="support", team="billing", answered_by=answered_by,
        state=state, raised_at=T0, routed_at=T0 + timedelta(minutes=1),
        acknowledged_at=None, resolved_at=answered, answered_at=answered,
        sla_due=T0 + timedelta(hours=4), resolve_by=T0 + timedelta(hours=8), origins=origins,
    )  # fmt: skip


def values(task: TaskFacts, measure: str) -> list[float | None]:
    return [inc.value for inc in increments(task) if inc.measure == measure]


def test_a_task_grouping_four_requests_answers_four_askers() -> None:
    task = grouped()
    assert values(task, FEEDBACK) == [7200.0, 6600.0, 6000.0, 5400.0]
    assert values(task, ANSWERED) == [7200.0, 6600.0, 6000.0, 5400.0]
    assert values(task, FEEDBACK_TASK) == [7200.0]  # the secondary, per-task figure
    assert len(values(task, REQUESTS)) == 4
    asking = {inc.department for inc in increments(task) if inc.measure == FEEDBACK}
    assert asking == {"support"}  # the askers' department, whatever the team's


def test_open_tasks_count_open_requests_and_no_latency() -> None:
    task = grouped(state="open")
    assert len(values(task, OPEN)) == 1
    assert len(values(task, OPEN_REQUESTS)) == 4
    assert values(task, FEEDBACK) == []


def test_router_answers_are_keyed_apart() -> None:
    keys = {inc.answered_by for inc in increments(grouped(answered_by=ROUTER))}
    assert keys == {ROUTER}


def test_a_change_is_what_it_adds_minus_what_it_took() -> None:
    before, after = grouped(state="open"), grouped()
    assert diff([after], [after]) == {}  # a replay changes nothing: it counts nothing
    change = diff([before], [after])
    opened = [d for key, d in change.items() if key[0] == "all" and key[2] == OPEN]
    assert [d.n for d in opened] == [-1]
    moved = diff([after], [replace(after, team="identity")])
    assert {key[4] for key in moved} == {"billing", "identity"}
