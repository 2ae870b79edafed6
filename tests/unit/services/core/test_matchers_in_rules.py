"""An Alertmanager routing file, matchers written as its documentation writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.core.errors import RuleError
from services.rules.rules_file import read_routing_rules

AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

# docs/configuration.md (<route>, <matcher>): braces, several matchers in one string, a
# trailing comma, unquoted values, a YAML block, a quoted UTF-8 label name, match/match_re.
ALERTMANAGER = """\
global: {resolve_timeout: 5m}
receivers:
  - name: triage
  - name: sales
  - name: billing
  - name: oncall
  - name: marketing
  - name: japan
route:
  receiver: triage
  group_by: [type]
  routes:
    - matchers: ['{type="sales.note"}']
      receiver: sales
    - matchers: ['component=~"a|b", priority!="low"']
      receiver: billing
    - matchers:
        - alertname = Watchdog
        - severity =~ "warning|critical"
      receiver: oncall
    - matchers: [ '{team="growth", stage=~"(?i)lead|trial",}' ]
      receiver: marketing
    - matchers:
        - |
          {"お客様 地域"="日本", product!~"\\\\d+"}
      receiver: japan
    - match: {service: database}
      match_re: {env: "prod|staging"}
      receiver: oncall
"""

ROUTED = [
    ({"type": "sales.note"}, "sales"),
    ({"component": "a", "priority": "high"}, "billing"),
    ({"component": "b"}, "billing"),  # priority absent is "", not "low"
    ({"component": "a", "priority": "low"}, "triage"),  # both matchers of the item must match
    ({"component": "c", "priority": "high"}, "triage"),
    ({"alertname": "Watchdog", "severity": "critical"}, "oncall"),
    ({"alertname": "Watchdog", "severity": "none"}, "triage"),
    ({"team": "growth", "stage": "TRIAL"}, "marketing"),
    ({"お客様 地域": "日本", "product": "ledger"}, "japan"),
    ({"お客様 地域": "日本", "product": "42"}, "triage"),
    ({"service": "database", "env": "staging"}, "oncall"),
    ({"service": "database", "env": "dev"}, "triage"),
]


@pytest.fixture(scope="module")
def rules_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text(ALERTMANAGER, encoding="utf-8")
    return path


@pytest.mark.parametrize(("labels", "team"), ROUTED)
def test_an_alertmanager_tree_routes_as_documented(
    rules_path: Path, labels: dict[str, str], team: str
) -> None:
    rules = read_routing_rules(rules_path)
    assert [d.team for d in rules.decide(labels, AT)] == [team]


@pytest.mark.parametrize(
    ("matcher", "reason"),
    [
        ("'{{type=\"x\"}}'", "column 2: unexpected {: expected label name"),
        ("'foo!bar'", "column 4: !: expected one of '=~'"),
        ("'a=\"x'", 'column 3: "x: missing end "'),
        ("'a=~\"(\"'", "bad regex '('"),
        ("'a=~\"(?=x)\"'", "bad regex '(?=x)'"),
    ],
)
def test_a_bad_matcher_is_refused_with_file_and_line(
    tmp_path: Path, matcher: str, reason: str
) -> None:
    path = tmp_path / "routing.yaml"
    text = "receivers: [{name: a}]\nroute:\n  receiver: a\n  routes:\n"
    path.write_text(f"{text}    - receiver: a\n      matchers: [ok=1, {matcher}]\n", "utf-8")
    with pytest.raises(RuleError) as err:
        read_routing_rules(path)
    assert err.value.where == f"{path}:6: route.routes[0].matchers[1]"
    assert reason in err.value.reason
