"""A grouped task's terms follow its most urgent request; a changed clock runs to new deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.clock import Closed, Running, SignalsReset, TaskClock
from services.core.retime import Retime, retime
from services.core.sla import SlaClock, SlaClocks
from services.core.terms import TaskTerms, Terms, changes

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def terms(priority: str, ack_h: float | None, resolve_h: float | None = None) -> Terms:
    ack = T0 + timedelta(hours=ack_h) if ack_h is not None else None
    resolve = T0 + timedelta(hours=resolve_h) if resolve_h is not None else None
    return Terms(priority, priority, T0, ack, resolve)


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ({"a": terms("normal", 24), "b": terms("urgent", 1)}, "b"),
        ({"a": terms("high", 4), "b": terms("normal", 24)}, "a"),
        ({"a": terms("low", None, 40), "b": terms("normal", 30)}, "b"),  # earliest first deadline
        ({"a": terms("high", 4, 16), "b": terms("urgent", 4, 8)}, "b"),  # then the resolve one
        ({"a": terms("normal", 4, 8), "b": terms("urgent", 4, 8)}, "b"),  # then the priority
        ({"a": terms("normal", None), "b": terms("high", None)}, "b"),  # no SLA: by priority
    ],
)
def test_the_task_follows_its_most_urgent_request(
    requests: dict[str, Terms], expected: str
) -> None:
    assert TaskTerms(requests).current() == requests[expected]


def test_a_task_without_known_terms_has_none() -> None:
    assert TaskTerms().current() is None


def test_only_the_kept_requests_count() -> None:
    kept = TaskTerms({"a": terms("urgent", 1), "b": terms("normal", 24)}).keep(["b", "c"])
    assert kept.current() == terms("normal", 24)


def test_terms_round_trip_through_the_table() -> None:
    value = TaskTerms({"a": terms("urgent", 1, 8), "b": terms("low", None)}, revision=3)
    assert TaskTerms.from_dict(value.to_dict()) == value
    assert TaskTerms.from_dict(None) == TaskTerms()


def test_changes_name_what_differs_in_order() -> None:
    listed = changes(terms("high", 4, 16), terms("urgent", 1, 16))
    assert [name for name, _, _ in listed] == ["priority", "sla_policy", "acknowledge_by"]
    assert listed[0] == ("priority", "high", "urgent")
    assert changes(terms("high", 4), terms("high", 4)) == ()


def clocks(ack_h: float) -> SlaClocks:
    due = T0 + timedelta(hours=ack_h)
    return SlaClocks(SlaClock("acknowledge", timedelta(hours=ack_h), due, due), None)


def clock(**kw: Any) -> TaskClock:
    base = TaskClock("t1", "billing", "eng-oncall", "acme", clocks(4), {"id": "r0"})
    return replace(base, **kw)


def test_a_retime_moves_a_running_clock_to_a_new_generation() -> None:
    running = Running(clock(already=("sla.at_risk:acknowledge",)))
    new, effects = retime(running, Retime("t1", clocks(1), {"id": "r1"}))
    assert isinstance(new, Running)
    assert (new.clock.clocks, new.clock.routed, new.clock.already) == (clocks(1), {"id": "r1"}, ())
    assert new.clock.generation == 1
    assert effects == (SignalsReset("t1"),)


def test_a_replayed_retime_changes_nothing_but_the_routing() -> None:
    running = Running(clock(clocks=clocks(1), generation=1))
    new, effects = retime(running, Retime("t1", clocks(1), {"id": "r1"}))
    assert isinstance(new, Running)
    assert (new.clock.generation, new.clock.routed, effects) == (1, {"id": "r1"}, ())


@pytest.mark.parametrize("state", [None, Closed(clock(), T0)])
def test_a_retime_leaves_a_closed_or_unknown_clock(state: Closed | None) -> None:
    assert retime(state, Retime("t1", clocks(1), {})) == (state, ())
