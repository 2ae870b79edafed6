from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from services.core import routetree
from services.core.errors import RuleError
from services.core.labels import ALL, GroupBy
from services.core.routetree import Capacity, Route, parse_route_tree

TEAMS = frozenset(
    {"triage", "support-l1", "support-l2", "billing", "identity", "production-planning",
     "marketing", "account-management", "ops"}
)  # fmt: skip
POLICIES = frozenset({"standard", "urgent"})

TREE = """
team: triage
sla: standard
group_by: [account, component]
labels: {origin: handoff}
routes:
  - matchers: ['customer.tier="gold"']                        # /0
    team: account-management
    continue: true
  - matchers: ['type="support.ticket"']                       # /1
    team: support-l1
    labels: {queue: support}
    routes:
      - matchers: ['priority=~"urgent|high"']                 # /1/0
        team: support-l2
        sla: urgent
        continue: true
      - matchers: ['component="billing-ui"']                  # /1/1
        team: billing
        group_by: ['...']
        labels: {queue: billing, board: eng}
      - matchers: ['component=~"login|sso"']                  # /1/2
        team: identity
  - matchers: ['type="sales.note"', 'intent="rush_order"']    # /2
    team: production-planning
    group_by: []
    capacity: {line_label: product_line, quantity_label: quantity, due_label: due_date}
    routes:
      - matchers: ['product_line="widgets"']                  # /2/0
        sla: urgent
  - match: {type: sales.deal}                                 # /3
    match_re: {outcome: "won|lost"}
    receiver: marketing
  - matchers: ['subject=~"inv.*"']                            # /4
    team: billing
  - matchers: ['type="incident"', 'severity=""']              # /5
    team: ops
"""


def load(text: str, teams: frozenset[str] = TEAMS) -> Route:
    return parse_route_tree(yaml.safe_load(text), teams=teams, sla_policies=POLICIES)


def routed(tree: Route, labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(m.route_id, m.team) for m in tree.match(labels)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # fallback: nothing below the root matches
        ({}, [("/", "triage")]),
        ({"type": "sales.deal", "outcome": "lost-ish"}, [("/", "triage")]),
        # fallback to the parent when none of its children match
        ({"type": "support.ticket"}, [("/1", "support-l1")]),
        # continue: the next siblings are tried too
        ({"type": "support.ticket", "priority": "urgent", "component": "billing-ui"},
         [("/1/0", "support-l2"), ("/1/1", "billing")]),
        ({"type": "support.ticket", "priority": "high", "component": "sso"},
         [("/1/0", "support-l2"), ("/1/2", "identity")]),
        # a continue route that matches alone is the answer; the parent is not added
        ({"type": "support.ticket", "priority": "urgent"}, [("/1/0", "support-l2")]),
        ({"customer.tier": "gold"}, [("/0", "account-management")]),
        ({"customer.tier": "gold", "type": "support.ticket", "component": "billing-ui"},
         [("/0", "account-management"), ("/1/1", "billing")]),
        # first match wins: /4 would match too but /1 has no continue
        ({"type": "support.ticket", "subject": "invoice"}, [("/1", "support-l1")]),
        ({"subject": "invoice is confusing"}, [("/4", "billing")]),
        # anchored regexes
        ({"type": "support.ticket", "priority": "urgently"}, [("/1", "support-l1")]),
        ({"type": "support.ticket", "priority": "not-urgent"}, [("/1", "support-l1")]),
        ({"type": "support.ticket", "component": "login-page"}, [("/1", "support-l1")]),
        ({"subject": "the inv"}, [("/", "triage")]),
        # all matchers of a node must match
        ({"type": "sales.note", "intent": "rush_order", "product_line": "widgets"},
         [("/2/0", "production-planning")]),
        ({"type": "sales.note", "intent": "quote"}, [("/", "triage")]),
        # legacy match / match_re, receiver alias
        ({"type": "sales.deal", "outcome": "lost"}, [("/3", "marketing")]),
        ({"type": "sales.deal", "outcome": "open"}, [("/", "triage")]),
        # an absent label is the empty string
        ({"type": "incident"}, [("/5", "ops")]),
        ({"type": "incident", "severity": ""}, [("/5", "ops")]),
        ({"type": "incident", "severity": "critical"}, [("/", "triage")]),
    ],
)  # fmt: skip
def test_tree_routes_like_alertmanager(
    labels: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert routed(load(TREE), labels) == expected


WIDGET_CAPACITY = Capacity("product_line", "quantity", "due_date")
ACCOUNT_COMPONENT = GroupBy(("account", "component"))


@pytest.mark.parametrize(
    ("route_id", "team", "sla", "group_by", "labels", "capacity"),
    [
        ("/", "triage", "standard", ACCOUNT_COMPONENT, {"origin": "handoff"}, None),
        ("/1", "support-l1", "standard", ACCOUNT_COMPONENT,
         {"origin": "handoff", "queue": "support"}, None),
        ("/1/0", "support-l2", "urgent", ACCOUNT_COMPONENT,
         {"origin": "handoff", "queue": "support"}, None),
        ("/1/1", "billing", "standard", ALL,
         {"origin": "handoff", "queue": "billing", "board": "eng"}, None),
        ("/2", "production-planning", "standard", GroupBy(), {"origin": "handoff"},
         WIDGET_CAPACITY),
        # capacity is the node's own: not inherited
        ("/2/0", "production-planning", "urgent", GroupBy(), {"origin": "handoff"}, None),
        ("/3", "marketing", "standard", ACCOUNT_COMPONENT, {"origin": "handoff"}, None),
    ],
)  # fmt: skip
def test_children_inherit_team_sla_group_by_and_merge_labels(
    route_id: str,
    team: str,
    sla: str,
    group_by: GroupBy,
    labels: dict[str, str],
    capacity: Capacity | None,
) -> None:
    outcome = {route.route_id: route.outcome for route in load(TREE).walk()}[route_id]
    assert (outcome.route_id, outcome.team, outcome.sla) == (route_id, team, sla)
    assert (outcome.group_by, dict(outcome.labels), outcome.capacity) == (
        group_by,
        labels,
        capacity,
    )


def test_walk_gives_ids_depths_and_own_settings_in_file_order() -> None:
    nodes = list(load(TREE).walk())
    assert [(n.route_id, n.depth) for n in nodes] == [
        ("/", 0), ("/0", 1), ("/1", 1), ("/1/0", 2), ("/1/1", 2), ("/1/2", 2),
        ("/2", 1), ("/2/0", 2), ("/3", 1), ("/4", 1), ("/5", 1),
    ]  # fmt: skip
    own = {n.route_id: n.own for n in nodes}
    assert (own["/2/0"].team, own["/2/0"].sla, own["/2/0"].group_by) == (None, "urgent", None)
    assert (own["/1/1"].group_by, dict(own["/1/1"].labels)) == (
        ALL,
        {"queue": "billing", "board": "eng"},
    )


@pytest.mark.parametrize(
    ("route_id", "line"),
    [
        ("/", "/ {} team=triage sla=standard"),
        ("/1/0", '/1/0 {priority=~"urgent|high"} team=support-l2 sla=urgent continue'),
        ("/2/0", '/2/0 {product_line="widgets"} team=production-planning (inherited) sla=urgent'),
        ("/2", '/2 {type="sales.note", intent="rush_order"} team=production-planning '
               "sla=standard (inherited) capacity"),
        ("/3", '/3 {type="sales.deal", outcome=~"won|lost"} team=marketing '
               "sla=standard (inherited)"),
    ],
)  # fmt: skip
def test_describe_is_one_readable_line(route_id: str, line: str) -> None:
    assert {n.route_id: n for n in load(TREE).walk()}[route_id].describe() == line


def test_group_by_all_and_owner_and_agreeing_alias_load() -> None:
    tree = load("""
        receiver: triage
        team: triage
        group_by: ['...']
        routes:
          - {matchers: ['component=~".+"'], team: $owner}
    """)
    assert routed(tree, {"component": "billing-ui"}) == [("/0", "$owner")]
    assert tree.outcome.group_by == ALL


@pytest.mark.parametrize("duration", ["30s", "5m", "4h", "1d", "1h30m", "2w", "1y", "500ms", "0"])
def test_alertmanager_timers_are_accepted(duration: str) -> None:
    tree = load(f"""
        team: triage
        group_wait: '{duration}'
        routes: [{{matchers: ['a="1"'], repeat_interval: '{duration}', group_interval: '{duration}',
                   mute_time_intervals: [offhours], active_time_intervals: [weekdays]}}]
    """)
    assert routed(tree, {"a": "1"}) == [("/0", "triage")]


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("{team: triage, routes: [{recevier: billing}]}", "route.routes[0].recevier",
         "unknown key (did you mean 'receiver'?)"),
        ("{team: triage, routes: [{team: bilingg}]}", "route.routes[0].team",
         "unknown team 'bilingg' (did you mean 'billing'?)"),
        ("{team: triage, routes: [{routes: [{receiver: nobody}]}]}",
         "route.routes[0].routes[0].receiver", "unknown team 'nobody'"),
        ("{team: nobody}", "route.team", "unknown team"),
        ("{team: triage, routes: [{team: billing, receiver: ops}]}", "route.routes[0].receiver",
         "receiver 'ops' disagrees with team 'billing'"),
        ("{team: triage, routes: [{sla: urgnet}]}", "route.routes[0].sla",
         "unknown SLA policy 'urgnet' (did you mean 'urgent'?)"),
        ("{team: triage, routes: [{}, {matchers: ['a=~\"(\"']}]}", "route.routes[1].matchers[0]",
         "bad regex"),
        ("{team: triage, routes: [{match_re: {a: '['}}]}", "route.routes[0].match_re.a",
         "bad regex"),
        ("{team: triage, group_wait: 30}", "route.group_wait", "not a duration"),
        ("{team: triage, routes: [{repeat_interval: 5 minutes}]}",
         "route.routes[0].repeat_interval", "not a duration"),
        ("{team: triage, group_interval: 5M}", "route.group_interval", "not a duration"),
        ("{team: triage, group_interval: ''}", "route.group_interval", "not a duration"),
        ("{team: triage, matchers: ['a=\"1\"']}", "route.matchers", "root route must not have"),
        ("{team: triage, match: {a: '1'}}", "route.match", "root route must not have"),
        ("{team: triage, mute_time_intervals: [x]}", "route.mute_time_intervals",
         "root route must not have"),
        ("{team: triage, continue: true}", "route.continue", "meaningless at the root"),
        ("{sla: urgent}", "route", "root route needs a team"),
        ("[]", "route", "must be a mapping"),
        ("{team: triage, routes: {a: 1}}", "route.routes", "must be a list"),
        ("{team: triage, routes: [x]}", "route.routes[0]", "must be a mapping"),
        ("{team: triage, routes: [{continue: maybe}]}", "route.routes[0].continue",
         "not true or false"),
        ("{team: triage, group_by: [a, '...']}", "route.group_by", "cannot sit beside"),
        ("{team: triage, group_by: [a, a]}", "route.group_by[1]", "listed twice"),
        ("{team: triage, group_by: ['a b']}", "route.group_by[0]", "not a label name"),
        ("{team: triage, group_by: account}", "route.group_by", "must be a list"),
        ("{team: triage, labels: {tier: 1}}", "route.labels.tier", "not a string"),
        ("{team: triage, labels: [a]}", "route.labels", "must be a mapping"),
        ("{team: triage, routes: [{capacity: {line_label: l, quantity_label: q}}]}",
         "route.routes[0].capacity", "missing due_label"),
        ("{team: triage, routes: [{capacity: {line_lable: l}}]}",
         "route.routes[0].capacity.line_lable",
         "unknown key (did you mean 'line_label'?)"),
        ("{team: triage, routes: [{capacity: {line_label: 3, quantity_label: q, due_label: d}}]}",
         "route.routes[0].capacity.line_label", "not a label name"),
        ("{team: triage, routes: [{active_time_intervals: weekdays}]}",
         "route.routes[0].active_time_intervals", "list of time interval names"),
    ],
)  # fmt: skip
def test_every_load_error_says_where_and_why(text: str, where: str, reason: str) -> None:
    with pytest.raises(RuleError) as err:
        load(text)
    assert (err.value.where, reason in err.value.reason) == (where, True), err.value.reason


ALERTMANAGER_CONFIG = """
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
route:
  receiver: team-X-mails
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  routes:
    - matchers: ['service=~"foo1|foo2|baz"']
      receiver: team-X-mails
      routes:
        - matchers: ['severity="critical"']
          receiver: team-X-pager
    - matchers: ['service="files"']
      receiver: team-Y-mails
      routes:
        - matchers: ['severity="critical"']
          receiver: team-Y-pager
    - matchers: ['service="database"']
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers: ['owner="team-X"']
          receiver: team-X-pager
          continue: true
        - matchers: ['owner="team-Y"']
          receiver: team-Y-pager
    - match: {app: legacy}
      match_re: {env: "prod|staging"}
      receiver: team-legacy
      repeat_interval: 1h30m
      mute_time_intervals: [offhours]
receivers:
  - name: team-X-mails
    email_configs: [{to: 'team-X+alerts@example.org'}]
  - name: team-X-pager
    pagerduty_configs: [{service_key: '<team-X-key>'}]
  - name: team-Y-mails
    email_configs: [{to: 'team-Y+alerts@example.org'}]
  - name: team-Y-pager
    pagerduty_configs: [{service_key: '<team-Y-key>'}]
  - name: team-DB-pager
    pagerduty_configs: [{service_key: '<team-DB-key>'}]
  - name: team-legacy
    webhook_configs: [{url: 'http://legacy.example.org/hook'}]
time_intervals:
  - name: offhours
    time_intervals: [{times: [{start_time: '17:00', end_time: '24:00'}]}]
"""


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"service": "foo1", "severity": "critical"}, ["team-X-pager"]),
        ({"service": "baz", "severity": "warning"}, ["team-X-mails"]),
        ({"service": "files", "severity": "critical"}, ["team-Y-pager"]),
        ({"service": "files"}, ["team-Y-mails"]),
        ({"service": "database", "owner": "team-X"}, ["team-X-pager"]),
        ({"service": "database", "owner": "team-Y"}, ["team-Y-pager"]),
        ({"service": "database"}, ["team-DB-pager"]),
        ({"app": "legacy", "env": "staging"}, ["team-legacy"]),
        ({"app": "legacy", "env": "dev"}, ["team-X-mails"]),
        ({"service": "foo"}, ["team-X-mails"]),
    ],
)
def test_an_alertmanager_config_loads_as_is_and_routes_like_amtool(
    labels: dict[str, str], receivers: list[str]
) -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG)
    names = frozenset(r["name"] for r in config["receivers"])
    tree = parse_route_tree(config["route"], teams=names, sla_policies=frozenset())
    assert [m.team for m in tree.match(labels)] == receivers


def test_an_alertmanager_subtree_keeps_its_own_group_by() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG)
    names = frozenset(r["name"] for r in config["receivers"])
    tree = parse_route_tree(config["route"], teams=names, sla_policies=frozenset())
    (match,) = tree.match({"service": "database", "owner": "team-Y"})
    assert (match.route_id, match.group_by) == (
        "/2/1",
        GroupBy(("alertname", "cluster", "database")),
    )


def test_a_wide_level_is_matched_through_its_index() -> None:
    routes: list[dict[str, Any]] = [
        {"matchers": [f'component="c{n}"'], "team": "billing"} for n in range(1000)
    ]
    routes[500:500] = [{"matchers": ['component=~"c7.*"'], "team": "ops", "continue": True}]
    tree = parse_route_tree(
        {"team": "triage", "routes": routes}, teams=TEAMS, sla_policies=POLICIES
    )
    labels = {"component": "c123"}
    assert len(list(tree.index.candidates(labels))) == 2
    assert routed(tree, labels) == [("/123", "billing")]
    assert routed(tree, {"component": "c777"}) == [("/500", "ops"), ("/778", "billing")]


def test_a_regex_does_not_match_a_trailing_newline() -> None:
    tree = load("{team: triage, routes: [{matchers: ['p=~\"urgent\"'], team: ops}]}")
    assert routed(tree, {"p": "urgent\n"}) == [("/", "triage")]


# The index must give exactly the answers of Alertmanager's plain scan.

NAMES = ("type", "component", "priority", "tier")
VALUES = ("a", "b", "c", "d", "")
PATTERNS = ("a|b", "c", "a|", ".*", "[ab]", "b.*", "a|b|c|d")


def naive_match(route: Route, labels: dict[str, str]) -> list[str]:
    """Alertmanager's dispatch/route.go Match, without any index."""
    found: list[str] = []
    for child in route.routes:
        if all(m.matches(labels) for m in child.matchers):
            found += naive_match(child, labels)
            if not child.continues:
                break
    return found or [route.route_id]


def random_matcher(rng: random.Random) -> str:
    op = rng.choice(["=", "=", "=", "!=", "=~", "=~", "!~"])
    value = rng.choice(PATTERNS if "~" in op else VALUES)
    return f'{rng.choice(NAMES)}{op}"{value}"'


def random_route(rng: random.Random, depth: int) -> dict[str, Any]:
    width = rng.randint(0, (30, 6, 3, 0)[depth])
    return {
        "team": f"t{rng.randint(0, 4)}",
        "matchers": [random_matcher(rng) for _ in range(rng.choice([0, 1, 1, 1, 2]))],
        "continue": rng.random() < 0.3,
        "routes": [random_route(rng, depth + 1) for _ in range(width)],
    }


def random_labels(rng: random.Random) -> dict[str, str]:
    return {name: rng.choice((*VALUES, "zz", "a\n")) for name in NAMES if rng.random() < 0.8}


@pytest.mark.parametrize("premerge_up_to", [routetree._PREMERGE_UP_TO, 0])
def test_indexed_matching_equals_the_plain_scan_on_random_trees(
    premerge_up_to: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routetree, "_PREMERGE_UP_TO", premerge_up_to)  # both candidate paths
    rng = random.Random(20261120)
    teams = frozenset(f"t{n}" for n in range(5))
    indexed = 0
    for _ in range(120):
        doc = random_route(rng, 0)
        del doc["matchers"], doc["continue"]
        tree = parse_route_tree(doc, teams=teams, sla_policies=frozenset())
        indexed += sum(node.index.label is not None for node in tree.walk())
        for labels in (random_labels(rng) for _ in range(80)):
            assert [m.route_id for m in tree.match(labels)] == naive_match(tree, labels), labels
    assert indexed > 120  # the index was really exercised, not bypassed
