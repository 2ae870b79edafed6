"""`handoff routes test|check`, as `amtool config routes test` behaves."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.local.kafka import free_port
from services.rules import routes_cli
from services.rules.rules_feed import RuleSet, read_rule_set

EXAMPLE = str(Path(__file__).resolve().parents[4] / "deploy" / "config" / "routing.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["routes", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("labels", "teams"),
    [
        (["type=support.ticket", "component=billing-ui", "priority=urgent"], "billing"),
        (["type=support.ticket", "priority=high"], "support-l2"),
        (["type=sales.note", "intent=deal_lost"], "marketing"),
        ([], "support-triage"),
    ],
)
def test_prints_teams_in_match_order(labels: list[str], teams: str) -> None:
    code, out, _ = run("test", "--rules", EXAMPLE, *labels)
    assert (code, out.strip()) == (0, teams)


def test_expect_sets_the_exit_code() -> None:
    labels = ["type=support.ticket", "component=sso"]
    assert run("test", "--rules", EXAMPLE, "--expect", "identity", *labels)[0] == 0
    code, _, err = run("test", "--rules", EXAMPLE, "--expect", "billing", *labels)
    assert code == 1
    assert "expected billing, got identity" in err


def test_json_has_route_ids_sla_and_group_key() -> None:
    code, out, _ = run(
        "test", "--rules", EXAMPLE, "--json", "--at", "2026-11-20T17:30:00+09:00",
        "type=support.ticket", "component=invoices", "priority=urgent",
    )  # fmt: skip
    assert code == 0
    route = json.loads(out)["routes"][0]
    assert route["route_id"] == "/0/0"
    assert route["sla"] == "urgent"
    assert route["acknowledge_by"] == "2026-11-23T00:30:00+00:00"  # Monday 09:30 Tokyo
    assert route["group_key"] == 'billing:{component="invoices"}'
    assert "ownership[0]" in route["reason"]


def test_tree_marks_the_matched_route() -> None:
    code, out, _ = run("test", "--rules", EXAMPLE, "--tree", "type=sales.note", "intent=rush_order")
    assert code == 0
    matched = [line for line in out.splitlines() if "<- matched" in line]
    assert len(matched) == 1
    assert matched[0].strip().startswith("/2 ")


@pytest.mark.parametrize("bad", ["novalue", "=x"])
def test_a_malformed_label_is_a_usage_error(bad: str) -> None:
    code, _, err = run("test", "--rules", EXAMPLE, bad)
    assert code == 2
    assert "is not a label like name=value" in err


def test_a_broken_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("teams: {a: {}}\nroute:\n  team: a\n  routes:\n    - team: nobody\n")
    code, _, err = run("test", "--rules", str(rules), "x=y")
    assert code == 2
    assert f"{rules}:5: route.routes[0]" in err
    assert "nobody" in err


def test_check_summarises_a_valid_file() -> None:
    code, out, _ = run("check", "--rules", EXAMPLE)
    assert code == 0
    assert "ok, version" in out
    assert "14 teams" in out


def closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


def test_says_which_rule_set_answered_with_rules() -> None:
    code, out, err = run("test", "--rules", EXAMPLE, "type=sales.note", "intent=deal_lost")
    version = read_rule_set(EXAMPLE).version
    assert (code, out.strip()) == (0, "marketing")
    assert f"rules: {EXAMPLE} version {version} (--rules)" in err


def test_without_rules_prefers_the_published_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "published.yaml"
    published.write_text("teams: {sales-ops: {}}\nroute: {team: sales-ops}\n")
    rule_set = read_rule_set(published)
    asked: list[tuple[str, str, float]] = []

    def fake_published(bootstrap: str, key: str, timeout_s: float) -> RuleSet:
        asked.append((bootstrap, key, timeout_s))
        return rule_set

    monkeypatch.setattr(routes_cli, "published_rule_set", fake_published)
    code, out, err = run(
        "test", "--bootstrap", "kafka:9092", "--key", "prod", "type=sales.note", "intent=deal_lost"
    )
    assert (code, out.strip()) == (0, "sales-ops")
    assert asked == [("kafka:9092", "prod", 3.0)]
    assert f"rules: published.yaml version {rule_set.version} (published on handoff.rules" in err


def test_without_rules_and_nothing_published_uses_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routes_cli, "published_rule_set", lambda *_: None)
    monkeypatch.chdir(Path(EXAMPLE).parents[2])
    code, out, err = run("test", "--bootstrap", "kafka:9092", "type=sales.note", "intent=deal_lost")
    assert (code, out.strip()) == (0, "marketing")
    assert "rules: deploy/config/routing.yaml version" in err
    assert "nothing published under key 'current' at kafka:9092" in err


# No Kafka client is built when nothing listens (kafka-python would leave its sockets
# to the garbage collector, a ResourceWarning, an error here): a TCP probe says so first.
def test_without_rules_and_no_broker_falls_back_to_the_file_quickly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="kafka")  # its records would keep sockets alive
    monkeypatch.chdir(Path(EXAMPLE).parents[2])
    started = time.monotonic()
    code, out, err = run(
        "test", "--bootstrap", closed_port(), "--timeout", "0.5", "type=sales.note",
        "intent=deal_lost",
    )  # fmt: skip
    assert time.monotonic() - started < 5
    assert (code, out.strip()) == (0, "marketing")
    version = read_rule_set(EXAMPLE).version
    assert f"rules: deploy/config/routing.yaml version {version} (the file;" in err
    assert "could not be read from 127.0.0.1:" in err
    assert "Connection refused" in err
