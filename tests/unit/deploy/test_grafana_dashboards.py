"""The Grafana dashboards and their provisioning.

Grafana is not in Debian's archive (``apt-cache policy grafana`` finds no
candidate), so the dashboards are not loaded in a real Grafana here: their
JSON is validated against ``deploy/grafana/dashboard.schema.json``, a JSON
Schema transcribed from Grafana's dashboard kind (kinds/dashboard/dashboard_kind.cue).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
SCHEMA = json.loads((GRAFANA / "dashboard.schema.json").read_text(encoding="utf-8"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "handoff.yml"


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_the_two_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} == {"platform-health.json", "feedback-latency.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_matches_grafanas_schema(path: Path) -> None:
    errors = [str(e) for e in jsonschema_rs.validator_for(SCHEMA).iter_errors(load(path))]
    assert errors == []


def test_the_schema_refuses_what_grafana_refuses() -> None:
    validator = jsonschema_rs.validator_for(SCHEMA)
    board = load(DASHBOARDS[0])
    for broken in (
        {**board, "panels": [{**board["panels"][1], "type": ""}]},
        {**board, "panels": [{**board["panels"][1], "gridPos": {"h": 8, "w": 25, "x": 0, "y": 0}}]},
        {**board, "graphTooltip": 3},
        {k: v for k, v in board.items() if k != "title"},
    ):
        assert not validator.is_valid(broken)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_are_unique_fit_the_grid_and_use_the_provisioned_datasource(path: Path) -> None:
    board = load(path)
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    uid = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]["uid"]
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": uid}
            assert target["expr"].strip(), panel["title"]


def test_feedback_latency_has_heatmaps_for_human_and_router_answers() -> None:
    board = load(GRAFANA / "dashboards" / "feedback-latency.json")
    heatmaps = [p for p in panels(board) if p["type"] == "heatmap"]
    exprs = " ".join(t["expr"] for p in heatmaps for t in p["targets"])
    assert "handoff_api_time_to_resolve_seconds_bucket" in exprs
    assert "handoff_router_answer_latency_seconds_bucket" in exprs
    assert all(t["format"] == "heatmap" for p in heatmaps for t in p["targets"])
    names = {v["name"] for v in board["templating"]["list"]}
    assert names == {"team", "department"}


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards() -> None:
    datasource = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/handoff"
