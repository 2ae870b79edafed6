from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.core.errors import RuleError
from services.router.rules_file import read_rules

REPO_ROOT = Path(__file__).resolve().parents[4]
GOOD = """\
default_team: support-triage
components:
  billing-ui: billing
  login: identity
sla:
  urgent: 1h
  high: 4h
  normal: 1d
  low: 3d
"""


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "rules.yaml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def test_reads_rules_and_versions_them_by_content(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    rules = read_rules(path)
    assert rules.default_team == "support-triage"
    assert dict(rules.components) == {"billing-ui": "billing", "login": "identity"}
    assert rules.sla["urgent"] == timedelta(hours=1)
    assert len(rules.version) == 12
    assert read_rules(path).version == rules.version
    path.write_text(GOOD.replace("4h", "5h"), encoding="utf-8")
    assert read_rules(path).version != rules.version


def test_the_shipped_rule_file_loads() -> None:
    rules = read_rules(REPO_ROOT / "deploy" / "config" / "rules.yaml")
    assert rules.default_team in rules.teams
    assert rules.components["billing-ui"] == "billing"


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            GOOD.replace("  login: identity\n", "  login: [identity\n"),
            "rules.yaml:5:",
            "invalid YAML",
            id="yaml-syntax-names-the-line",
        ),
        pytest.param(
            GOOD.replace("sla:\n", "sla:\n bad\n"),
            "rules.yaml:7:",
            "invalid YAML",
            id="yaml-indentation-names-the-line",
        ),
        pytest.param(GOOD + "owners: {}\n", "rules.yaml", "unknown keys: owners", id="unknown-key"),
        pytest.param(
            GOOD.replace("billing-ui: billing", "billing-ui: Billing Team"),
            "components.billing-ui",
            "'Billing Team' is not a team name",
            id="bad-team",
        ),
        pytest.param(
            GOOD.replace("default_team: support-triage", "default_team: ''"),
            "default_team",
            "is not a team name",
            id="empty-default-team",
        ),
        pytest.param(
            GOOD.replace("  low: 3d\n", ""), "sla", "no SLA for priority low", id="missing-sla"
        ),
        pytest.param(
            GOOD.replace("4h", "four hours"), "sla", "is not a duration", id="bad-duration"
        ),
        pytest.param("- just\n- a list\n", "rules.yaml", "must be a mapping", id="not-a-mapping"),
        pytest.param("", "rules.yaml", "must be a mapping", id="empty-file"),
    ],
)
def test_a_bad_rule_file_is_a_rule_error_naming_the_file(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as raised:
        read_rules(path)
    message = str(raised.value)
    assert str(path) in message
    assert where in message
    assert says in message


def test_a_missing_file_is_a_rule_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(RuleError, match="cannot read the rule file") as raised:
        read_rules(path)
    assert raised.value.where == str(path)


def test_bytes_that_are_not_text_are_a_rule_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"default_team: \xff\xfe\xfa\n")
    with pytest.raises(RuleError, match="invalid YAML") as raised:
        read_rules(path)
    assert str(path) in str(raised.value)
