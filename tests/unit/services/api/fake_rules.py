"""A fake of the API's routing rules port (``services.api.rules.ApiRules``)."""

from __future__ import annotations

from pathlib import Path

from services.api.rules import RulesUnavailableError
from services.core.routing import RoutingRules
from services.rules.rules_feed import RuleSet
from services.rules.rules_file import parse_routing_rules

RULES_YAML = """\
teams:
  billing-ui: {department: engineering, escalate_to: eng-oncall}
  payments: {department: engineering}
  shipping: {department: logistics}
  eng-oncall: {department: engineering}
sla_policies:
  high: {acknowledge: 1h, resolve: 1d}
route:
  team: shipping
  group_by: [account]
  routes:
    - matchers: ['component="billing-ui"']
      team: billing-ui
      sla: high
      group_by: [component]
"""


def load(text: str, name: str = "routing.yaml", base: Path | None = None) -> RuleSet:
    rules = parse_routing_rules(text.encode("utf-8"), name=name, base=base)
    return RuleSet(name=name, text=text, rules=rules)


class FakeRules:
    """A fixed rule set (``None``: none known); records what it publishes, validated as the
    real one does; fails with ``RulesUnavailableError`` when ``down``."""

    def __init__(self, text: str | None = RULES_YAML) -> None:
        self.rule_set = load(text) if text is not None else None
        self.published: list[RuleSet] = []
        self.down = False

    @property
    def current(self) -> RoutingRules | None:
        return self.rule_set.rules if self.rule_set is not None else None

    def teams(self) -> tuple[str, ...] | None:
        return tuple(sorted(self.current.teams)) if self.current is not None else None

    def publish(self, text: str, *, name: str) -> RoutingRules:
        rule_set = load(text, name)  # no base: an upload reads no files, as the real one
        if self.down:
            raise RulesUnavailableError("the rule set could not be published: broker down")
        self.published.append(rule_set)
        return rule_set.rules

    def is_alive(self) -> bool:
        return True
