"""A queue's marks and a request's answer state, as the pages show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.api.dashboard.queue import Origin, standing
from services.api.payloads.tasks import DeliveryOut, SourceEventOut, TaskOut

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sla_state", "due_in_min", "mark"),
    [("ok", 120, "ok"), ("ok", 59, "at_risk"), ("breached", -5, "breached"), ("met", -5, "met")],
)
def test_the_mark_of_a_task(sla_state: str, due_in_min: int, mark: str) -> None:
    task = TaskOut.model_construct(sla_state=sla_state, sla_due=NOW + timedelta(minutes=due_in_min))
    assert standing(task, NOW) == mark


def delivery(state: str, delivered_at: datetime | None = None) -> DeliveryOut:
    return DeliveryOut.model_construct(state=state, delivered_at=delivered_at)


REQUEST = SourceEventOut(source_event_id="e-1", source="/sources/support", raised_at=NOW)


@pytest.mark.parametrize(
    ("answer", "closed", "state"),
    [
        (None, False, "waiting"),
        (None, True, "published"),
        (delivery("pending"), True, "retrying"),
        (delivery("dead"), True, "parked"),
        (delivery("delivered", NOW + timedelta(seconds=90)), True, "delivered"),
    ],
)
def test_the_answer_state_of_a_request(
    answer: DeliveryOut | None, closed: bool, state: str
) -> None:
    assert Origin(REQUEST, answer, closed).state == state


def test_the_latency_runs_until_the_origin_took_the_answer() -> None:
    assert Origin(REQUEST, delivery("delivered", NOW + timedelta(seconds=90))).latency_s == 90
    assert Origin(REQUEST, delivery("pending")).latency_s is None
    assert Origin(REQUEST, None).latency_s is None
