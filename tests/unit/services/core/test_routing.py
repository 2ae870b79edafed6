from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.core.errors import RuleError
from services.core.routing import RoutingRules, load_routing_rules

EXAMPLE = Path(__file__).resolve().parents[4] / "deploy" / "config" / "routing.yaml"
# Friday 2026-11-20 17:30 in Tokyo.
FRIDAY_1730_JST = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> RoutingRules:
    return load_routing_rules(yaml.safe_load(EXAMPLE.read_text()), version="t")


def ticket(**labels: str) -> dict[str, str]:
    return {"type": "support.ticket", "account": "acme.com", **labels}


def note(**labels: str) -> dict[str, str]:
    return {"type": "sales.note", "account": "crm:0015g00000XyZ", **labels}


@pytest.mark.parametrize(
    ("labels", "teams", "route_ids", "slas"),
    [
        (ticket(component="billing-ui", priority="urgent"), ["billing"], ["/0/0"], ["urgent"]),
        (ticket(component="sso", priority="high"), ["identity"], ["/0/1"], ["high"]),
        (ticket(component="reports", priority="low"), ["analytics"], ["/0"], ["standard"]),
        # A component nobody owns falls back to the nearest team named above it.
        (ticket(component="coffee-machine"), ["support-triage"], ["/0"], ["standard"]),
        (ticket(priority="urgent"), ["support-l2"], ["/1"], ["urgent"]),
        (ticket(priority="low"), ["support-triage"], ["/"], ["standard"]),
        (note(intent="rush_order", product_line="pumps-a"), ["production-planning"], ["/2"],
         ["planning"]),
        (note(intent="feature_request"), ["product"], ["/4"], ["follow-up"]),
        (note(intent="deal_lost", loss_reason="competitor"), ["marketing"], ["/5"], ["follow-up"]),
        (note(intent="lead_status_changed"), ["marketing"], ["/5"], ["follow-up"]),
    ],
)  # fmt: skip
def test_the_example_routes_all_three_stories(
    rules: RoutingRules, labels: dict[str, str], teams: list[str], route_ids: list[str],
    slas: list[str],
) -> None:  # fmt: skip
    decisions = rules.decide(labels, FRIDAY_1730_JST)
    assert [d.team for d in decisions] == teams
    assert [d.route_id for d in decisions] == route_ids
    assert [d.sla for d in decisions] == slas


def test_urgent_ticket_clock_counts_business_hours_only(rules: RoutingRules) -> None:
    (decision,) = rules.decide(ticket(component="invoices", priority="urgent"), FRIDAY_1730_JST)
    assert decision.clocks is not None
    assert decision.clocks.acknowledge is not None
    # 30 minutes left on Friday, the other 30 on Monday from 09:00 Tokyo.
    assert decision.clocks.acknowledge.due == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert decision.escalate_to == "eng-oncall"
    assert decision.department == "engineering"
    assert "ownership[0]" in decision.reason


def test_tickets_about_one_component_share_a_group_across_accounts(rules: RoutingRules) -> None:
    keys = {
        rules.decide(ticket(component="billing-ui", account=a), FRIDAY_1730_JST)[0].group_key
        for a in ("acme.com", "globex.example", "initech.example")
    }
    assert keys == {'billing:{component="billing-ui"}'}


@pytest.mark.parametrize("priority", ["urgent", "high", "normal", "low"])
def test_every_priority_of_a_component_shares_the_group_of_its_team(
    rules: RoutingRules, priority: str
) -> None:
    """Issue 16.1: the child routes per priority give SLAs, not groups: one task per component."""
    (decision,) = rules.decide(ticket(component="billing-ui", priority=priority), FRIDAY_1730_JST)
    assert decision.group_key == 'billing:{component="billing-ui"}'


def test_rush_order_carries_the_capacity_check(rules: RoutingRules) -> None:
    (decision,) = rules.decide(note(intent="rush_order", id="e1"), FRIDAY_1730_JST)
    assert decision.capacity is not None
    assert decision.capacity.quantity_label == "quantity"
    assert decision.group_key == 'production-planning:{id="e1"}'
    assert rules.hold_expiry == timedelta(hours=48)


def test_route_labels_are_carried(rules: RoutingRules) -> None:
    (decision,) = rules.decide(note(intent="deal_won"), FRIDAY_1730_JST)
    assert decision.labels == {"feedback": "lead-quality"}


ALERTMANAGER = """
global: {resolve_timeout: 5m}
receivers:
  - name: team-x
  - name: team-y
    webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]
route:
  receiver: team-x
  group_by: [alertname]
  group_wait: 30s
  routes:
    - match: {service: database}
      receiver: team-y
      continue: true
    - match_re: {service: "data.*"}
      receiver: team-x
inhibit_rules: []
"""


def test_an_alertmanager_file_loads_as_it_is() -> None:
    rules = load_routing_rules(yaml.safe_load(ALERTMANAGER), version="am")
    decisions = rules.decide({"service": "database"}, FRIDAY_1730_JST)
    assert [d.team for d in decisions] == ["team-y", "team-x"]
    assert all(d.clocks is None for d in decisions)


OWNER_ROOT = """
teams: {a: {}, b: {}}
ownership: [{owner: a}, {matchers: ['component="x"'], owner: b}]
route: {team: $owner}
"""


def test_owner_at_the_root_with_a_catch_all() -> None:
    rules = load_routing_rules(yaml.safe_load(OWNER_ROOT), version="o")
    assert rules.decide({"component": "x"}, FRIDAY_1730_JST)[0].team == "b"
    assert rules.decide({"component": "y"}, FRIDAY_1730_JST)[0].team == "a"


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ([], "rules", "must be a mapping"),
        ({"teams": {"a": {}}}, "route", "needs a route tree"),
        ({"teams": {"a": {}}, "route": {"team": "a"}, "extra": 1}, "extra", "unknown key"),
        ({"route": {"team": "a"}}, "teams", "declare the teams"),
        ({"teams": {"a": {"escalate_to": "z"}}, "route": {"team": "a"}}, "teams.a.escalate_to",
         "unknown team 'z'"),
        ({"teams": {"a": {"boss": "z"}}, "route": {"team": "a"}}, "teams.a.boss", "unknown key"),
        ({"receivers": [{"url": "x"}], "route": {"team": "a"}}, "receivers[0].name",
         "needs a name"),
        ({"teams": {"a": {}}, "route": {"team": "b"}}, "route", "b"),
        ({"teams": {"a": {}}, "route": {"team": "$owner"}}, "route.team", "no ownership entry"),
        ({"teams": {"a": {}}, "route": {"team": "a"}, "capacity": {"hold_expiry": "soon"}},
         "capacity.hold_expiry", "not a duration"),
        ({"teams": {"a": {}}, "route": {"team": "a", "sla": "gold"}}, "route", "gold"),
    ],
)  # fmt: skip
def test_load_errors_name_the_place(doc: Any, where: str, reason: str) -> None:
    with pytest.raises(RuleError) as err:
        load_routing_rules(doc, version="x")
    assert err.value.where.startswith(where)
    assert reason in err.value.reason
