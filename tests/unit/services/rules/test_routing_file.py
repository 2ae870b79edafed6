"""Reading the routing file: file:line errors, a content version, Backstage catalogs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.core.errors import RuleError
from services.rules.rules_file import read_routing_rules

AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("teams: {a: {}}\nroute: {team: a}\nsurprise: 1\n", ":3: surprise", "unknown key"),
        ("teams: {a: {}}\nroute:\n  team: a\n  routes:\n    - matchers: ['x=~\"(\"']\n",
         ":5: route.routes[0].matchers[0]", "bad regex"),
        ("teams: {a: {}}\nroute: {team: a, sla: gold}\n", ":2: route", "gold"),
        ("route: [\n", ":2:1", "invalid YAML"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_reason(
    tmp_path: Path, text: str, where: str, reason: str
) -> None:
    path = write(tmp_path, "routing.yaml", text)
    with pytest.raises(RuleError) as err:
        read_routing_rules(path)
    assert err.value.where.startswith(f"{path}{where}")
    assert reason in err.value.reason


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="cannot read the rule file"):
        read_routing_rules(tmp_path / "nope.yaml")


def test_version_follows_the_content(tmp_path: Path) -> None:
    a = read_routing_rules(write(tmp_path, "a.yaml", "teams: {a: {}}\nroute: {team: a}\n"))
    b = read_routing_rules(write(tmp_path, "b.yaml", "teams: {a: {}}\nroute: {team: a}\n"))
    c = read_routing_rules(write(tmp_path, "c.yaml", "teams: {a: {}}\nroute: {team: a}\n# x\n"))
    assert a.version == b.version != c.version


CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: billing-ui}
spec: {type: website, owner: group:default/billing, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: payments}
spec: {owner: group:finance}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: 請求書}
spec: {type: service, owner: billing, lifecycle: production}
"""


def test_backstage_catalogs_feed_ownership_and_written_entries_win(tmp_path: Path) -> None:
    write(tmp_path, "catalog-info.yaml", CATALOG)
    rules_text = (
        "teams: {billing: {}, triage: {}, identity: {}}\n"
        "backstage: {catalogs: [catalog-info.yaml], label: component}\n"
        "ownership:\n  - {matchers: ['component=\"請求書\"'], owner: identity}\n"
        "route: {team: triage, routes: [{matchers: ['component!=\"\"'], team: $owner}]}\n"
    )
    rules = read_routing_rules(write(tmp_path, "routing.yaml", rules_text))

    def team(component: str) -> str:
        return rules.decide({"component": component}, AT)[0].team

    assert team("billing-ui") == "billing"
    assert team("請求書") == "identity"  # the written entry comes last, so it wins
    assert team("payments") == "triage"  # a System is not a Component: unowned, fallback


def test_an_owner_root_needs_a_catch_all(tmp_path: Path) -> None:
    path = write(tmp_path, "routing.yaml", "teams: {a: {}}\nroute: {team: $owner}\n")
    with pytest.raises(RuleError, match="no ownership entry matches every event"):
        read_routing_rules(path)


def test_an_unreadable_catalog_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "routing.yaml",
        "teams: {a: {}}\nbackstage: {catalogs: [missing.yaml]}\nroute: {team: a}\n",
    )
    with pytest.raises(RuleError, match=r"backstage\.catalogs\[0\]"):
        read_routing_rules(path)


@pytest.mark.parametrize(("budget", "reason"), [("2w", "unknown unit 'w'"), ("1x", "'x'")])
def test_unknown_sla_units_name_file_and_line(tmp_path: Path, budget: str, reason: str) -> None:
    text = (
        "teams: {a: {}}\nroute: {team: a, sla: p}\nsla_policies:\n"
        f"  p: {{acknowledge: 1h, resolve: {budget}}}\n"
    )
    path = write(tmp_path, "routing.yaml", text)
    with pytest.raises(RuleError) as err:
        read_routing_rules(path)
    assert err.value.where.startswith(f"{path}:4: sla_policies.p.resolve")
    assert reason in err.value.reason


def test_business_days_load_from_a_rule_file(tmp_path: Path) -> None:
    text = (
        "teams: {a: {}}\nroute: {team: a, sla: p}\ncalendars:\n"
        "  office: {timezone: UTC, hours: ['09:00-17:00']}\n"
        "sla_policies:\n  p: {acknowledge: 1bd, resolve: 3bd, calendar: office}\n"
    )
    rules = read_routing_rules(write(tmp_path, "routing.yaml", text))
    (decision,) = rules.decide({}, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert decision.clocks is not None
    assert decision.clocks.deadlines == (
        datetime(2026, 11, 23, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
    )
