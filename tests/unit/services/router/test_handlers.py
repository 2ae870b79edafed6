"""Handlers without Faust: a message in, the sends and table writes they ask for out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.core.clock import Reassign, Start, Stop, TaskClock
from services.core.grouping import TaskDropped, TaskIndexed
from services.core.routing import RoutingRules
from services.router.clock_table import EARLY_STOP, encode_message
from services.router.handlers.accounts import AccountHandlers
from services.router.handlers.base import Context, Names, Tables
from services.router.handlers.clocks import ClockHandlers
from services.router.handlers.intake import IntakeHandlers
from services.router.inbound import PoisonMessageError
from services.router.internal import encode_change
from services.router.metrics import RouterMetrics
from services.rules.rules_file import read_routing_rules
from tests.unit.services.router.test_app import EXAMPLE, ticket_event

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RULES = read_routing_rules(EXAMPLE)
ROUTED = {"data": {"group_key": "g1", "accounts": ["acme"], "sla_policy": "urgent"}}
CLOCK = TaskClock(
    "t1", "support-l2", "support-lead", "acme", RULES.policies["urgent"].clocks(T0), ROUTED
)


@dataclass
class Holder:
    current: RoutingRules


def make_context() -> Context:
    tables = Tables({}, {}, {}, {})
    metrics = RouterMetrics(CollectorRegistry())
    return Context(Names("app"), tables, Holder(RULES), metrics, lambda: T0)


def test_a_ticket_becomes_a_decision_for_its_group() -> None:
    handled = IntakeHandlers(make_context()).route_support_ticket(b"example.co.jp", ticket_event())
    assert handled.outcome == "routed"
    assert [(topic, json.loads(value)["kind"]) for topic, _, value in handled.sends] == [
        ("app-groups", "decision")
    ]
    ((_, account, value),) = handled.writes  # the request's groups, should it come again
    assert (account, json.loads(value)) == (
        "example.co.jp",
        {"ev-1": [['billing:{component="billing-ui"}', "billing"]]},
    )


def test_a_stop_before_the_start_waits_and_is_replayed() -> None:
    context, reset = make_context(), []
    clocks = ClockHandlers(context, reset.append)
    stop = Stop("t1", "task.resolved", T0 + timedelta(minutes=5), ends="resolved")
    early = clocks.track_sla_clock(b"t1", encode_message(stop))
    ((table, key, value),) = early.writes
    assert (key, list(early.sends)) == ("t1", [])
    assert value is not None
    assert value.startswith(EARLY_STOP)
    table[key] = value

    started = clocks.track_sla_clock(b"t1", encode_message(Start(CLOCK)))
    ((_, _, closed),) = started.writes
    assert closed is not None
    assert json.loads(closed)["resolved"] is True
    assert [(topic, key) for topic, key, _ in started.sends] == [
        ("app-groups", b"g1"),
        ("app-accounts", b"acme"),
    ]
    assert started.sends[1][2] == encode_change(TaskDropped("t1"))
    assert reset == ["t1"]


def test_a_task_handed_to_an_unknown_team_is_poison() -> None:
    context = make_context()
    clocks = ClockHandlers(context, lambda task_id: None)
    context.tables.clocks["t1"] = json.dumps({**_open(CLOCK)})
    handed = Reassign("t1", "nobody", "", T0, "fb-1")
    with pytest.raises(PoisonMessageError) as refused:
        clocks.track_sla_clock(b"t1", encode_message(handed))
    assert refused.value.error_type == "UnknownTeam"


def test_the_account_index_write_is_returned() -> None:
    context = make_context()
    handled = AccountHandlers(context).track_account_tasks(
        b"acme", encode_change(TaskIndexed("t1", "billing"))
    )
    ((_, key, value),) = handled.writes
    assert (key, value) == ("acme", '{"acme":[{"task_id":"t1","team":"billing","state":"open"}]}')


def _open(clock: TaskClock) -> dict[str, Any]:
    start = json.loads(encode_message(Start(clock)))
    return dict(start["clock"])
