"""The rule file's connectors: section, validated with the file (errors say file:line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.connectors.config import parse_connectors
from services.core.errors import RuleError
from services.rules.connectors import read_connectors
from services.rules.rules_file import parse_routing_rules

TEAMS = frozenset({"billing-ui", "eng-oncall"})
RULES = """\
teams:
  billing-ui: {department: engineering}
route:
  receiver: billing-ui
connectors:
  billing-ui:
    language: ja
    attempts: 3
    tracker: {kind: jira-cloud, url: "https://acme.atlassian.net", project: BILL,
              user_env: JIRA_USER, token_env: JIRA_TOKEN}
    chat:
      - {kind: slack, url_env: SLACK_BILLING_URL}
"""


def test_a_rule_file_with_connectors_loads_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(RULES, encoding="utf-8")
    billing = read_connectors(path)["billing-ui"]
    assert (billing.language, billing.attempts) == ("ja", 3)
    assert billing.tracker is not None
    assert billing.tracker.kind == "jira-cloud"
    assert billing.tracker.options["token_env"] == "JIRA_TOKEN"
    assert [c.kind for c in billing.chat] == ["slack"]


def test_a_secret_written_into_the_file_is_refused_at_its_line() -> None:
    raw = RULES.replace("token_env: JIRA_TOKEN", "token_env: ATATT3xFfGF0-secret!").encode()
    with pytest.raises(RuleError) as refused:
        parse_routing_rules(raw, name="routing.yaml", base=None)
    assert "routing.yaml:10" in str(refused.value)
    assert "names an environment variable, not a secret" in str(refused.value)


@pytest.mark.parametrize(
    ("section", "where", "why"),
    [
        ({"billing": {}}, "connectors.billing", "unknown team 'billing'"),
        ({"billing-ui": {"language": "fr"}}, "connectors.billing-ui.language", "not one of en, ja"),
        ({"billing-ui": {"attempts": 0}}, "connectors.billing-ui.attempts", "from 1 to 100"),
        (
            {"billing-ui": {"tracker": {"kind": "trello"}}},
            "connectors.billing-ui.tracker.kind",
            "one of",
        ),
        (
            {"billing-ui": {"tracker": {"kind": "github", "token_env": "GH"}}},
            "connectors.billing-ui.tracker.repository",
            "required for a github tracker",
        ),
        (
            {
                "billing-ui": {
                    "tracker": {
                        "kind": "github",
                        "repository": "a/b",
                        "token_env": "GH",
                        "token": "x",
                    }
                }
            },
            "connectors.billing-ui.tracker.token",
            "unknown key",
        ),
        (
            {"billing-ui": {"chat": [{"kind": "slack"}]}},
            "connectors.billing-ui.chat[0].url_env",
            "webhook URL",
        ),
        (
            {"billing-ui": {"chat": [{"kind": "discord", "url_env": "X"}]}},
            "connectors.billing-ui.chat[0].kind",
            "slack, teams",
        ),
        ({"billing-ui": {"colour": "red"}}, "connectors.billing-ui.colour", "unknown key"),
    ],
)
def test_refusals_name_the_key_and_why(section: dict[str, Any], where: str, why: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse_connectors(yaml.safe_load(yaml.safe_dump(section)), TEAMS)
    assert refused.value.where == where
    assert why in refused.value.reason


def test_no_section_is_no_connectors() -> None:
    assert parse_connectors(None, TEAMS) == {}
