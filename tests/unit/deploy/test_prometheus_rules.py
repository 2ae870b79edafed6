"""The Prometheus rules: valid for promtool, every alert unit-tested firing and not, documented.

promtool is Prometheus's own tool (Debian's ``prometheus`` package, installed
by ``deploy/scripts/ensure-system.sh``). Without it the promtool tests skip on
a workstation and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
ROUTING = ROOT / "deploy" / "config" / "routing.yaml"
SEVERITIES = {"page", "ticket"}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing: run deploy/scripts/ensure-system.sh (Debian's prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


def groups() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield group["name"], rule


def alerts() -> dict[str, tuple[str, dict[str, Any]]]:
    return {rule["alert"]: (group, rule) for group, rule in groups() if "alert" in rule}


def alert_tests() -> Iterator[dict[str, Any]]:
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            yield from test.get("alert_rule_test", [])


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_checks_every_rule_file(promtool: str) -> None:
    result = run(promtool, "check", "rules", *(str(p.relative_to(PROMETHEUS)) for p in RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULES) >= 3


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", *(str(p.relative_to(PROMETHEUS)) for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS) >= 2


def test_promtool_accepts_the_scrape_config_and_its_rule_files(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"Checking rules/{p.name}" in result.stdout for p in RULES), result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in alert_tests():
        (firing if case["exp_alerts"] else silent).add(case["alertname"])
    assert set(alerts()) == firing == silent


def test_team_alerts_carry_the_team_in_their_tests() -> None:
    team_alerts = {name for name, (group, _) in alerts().items() if group == "handoff-sla"}
    assert team_alerts
    for case in alert_tests():
        if case["alertname"] in team_alerts:
            assert all("team" in a["exp_labels"] for a in case["exp_alerts"]), case


def test_every_alert_has_severity_summary_description_and_a_runbook_section() -> None:
    anchors = {
        slug(line.lstrip("#")) for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }  # fmt: skip
    for name, (_, rule) in alerts().items():
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"], name
        assert annotations["description"], name
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/runbook.md", name
        assert anchor == name.lower(), name
        assert anchor in anchors, name


def test_every_budget_names_a_team_of_the_routing_rules() -> None:
    teams = set(yaml.safe_load(ROUTING.read_text(encoding="utf-8"))["teams"])
    record = "team:handoff_feedback_latency_budget_seconds"
    budgets = [rule for _, rule in groups() if rule.get("record") == record]
    assert budgets
    assert {rule["labels"]["team"] for rule in budgets} <= teams


def test_the_scrape_config_loads_every_rule_file() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    loaded = {p for pattern in config["rule_files"] for p in PROMETHEUS.glob(pattern)}
    assert loaded == set(RULES)
