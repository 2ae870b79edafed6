"""Every PromQL expression in the rules and dashboards reads metrics the services export.

Each service's metrics class is built on a fresh registry (with its consumer-lag
and rollup collectors, which describe themselves without reaching Kafka or the
database); every name an expression selects must be one of their samples, a
series Prometheus makes itself (``up``), or a recorded rule of ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry

from services.api.metrics import ApiMetrics
from services.ingest.metrics import IngestMetrics, RawIngestMetrics
from services.router.metrics import RouterMetrics
from tests.unit.deploy.promql import SYNTHETIC, exported_names, label_values_metric, metric_names

ROOT = Path(__file__).resolve().parents[3]
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


@pytest.fixture(scope="module")
def exported() -> set[str]:
    registry = CollectorRegistry()
    RouterMetrics(registry).watch_consumer_lag("127.0.0.1:1", ["handoff-router"])
    api = ApiMetrics(registry)
    api.watch_consumer_lag("127.0.0.1:1", ["handoff-api-projector"])
    api.watch_database(sa.create_engine("sqlite://"))
    IngestMetrics(registry)
    RawIngestMetrics(registry).watch_consumer_lag("127.0.0.1:1", ["handoff-ingest-raw"])
    return exported_names(registry)


def rules() -> Iterator[dict[str, Any]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            yield from group["rules"]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def panel_exprs(panels: list[dict[str, Any]]) -> Iterator[str]:
    for panel in panels:
        yield from panel_exprs(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield target["expr"]


def dashboard_exprs(path: Path) -> Iterator[tuple[str, set[str]]]:
    board = json.loads(path.read_text(encoding="utf-8"))
    for expr in panel_exprs(board["panels"]):
        yield expr, metric_names(expr)
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        text = query["query"] if isinstance(query, dict) else str(query or "")
        yield text, label_values_metric(text)


def every_expr() -> Iterator[tuple[str, str, set[str]]]:
    for rule in rules():
        yield rule.get("record") or rule["alert"], rule["expr"], metric_names(rule["expr"])
    for path in DASHBOARDS:
        for expr, names in dashboard_exprs(path):
            yield path.name, expr, names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (team, le) (rate(a_b_bucket{x=~"5.."}[5m]))', {"a_b_bucket"}),
        ("x:y:z > on (team) group_left () w or vector(1)", {"x:y:z", "w"}),
        ('histogram_quantile(0.9, m{team=~"$team"}[$__rate_interval]) * 1e3', {"m"}),
        ("count(count by (version) (info_metric)) > 1 and bool up", {"info_metric", "up"}),
        ('label_replace(s, "service", "router", "", "")', {"s"}),
    ],
)
def test_the_name_parser(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_follow_the_text_formats_suffixes(exported: set[str]) -> None:
    assert "handoff_router_routed_total" in exported
    assert "handoff_router_routed" not in exported  # a counter is read as *_total
    assert "handoff_api_feedback_latency_seconds_bucket" in exported
    assert "handoff_api_feedback_latency_seconds" not in exported
    assert "handoff_router_rules_info" in exported
    assert "handoff_router_consumer_lag_messages" in exported
    assert "handoff_api_open_tasks" in exported


def test_every_expression_reads_exported_or_recorded_metrics(exported: set[str]) -> None:
    known = exported | recorded() | SYNTHETIC
    unknown = {
        (where, name) for where, _, names in every_expr() for name in names if name not in known
    }
    assert unknown == set()


def test_every_expression_reads_something() -> None:
    exprs = [(e, n) for _, e, n in every_expr() if not e.startswith("vector(")]  # budgets
    assert len(exprs) > 40
    assert all(names for _, names in exprs), [e for e, n in exprs if not n]


def test_a_misspelt_or_unsuffixed_name_is_caught(exported: set[str]) -> None:
    for expr in ("rate(handoff_router_routed[5m])", "handoff_api_feedback_latency_bucket"):
        assert metric_names(expr) - exported


def test_every_recorded_rule_is_used_by_an_alert_or_a_dashboard() -> None:
    used = {name for _, _, names in every_expr() for name in names}
    assert recorded() - used == set()
