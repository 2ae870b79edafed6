"""The fault suite's table and the OpenAPI links its stateful runs follow (bench/chaos)."""

from __future__ import annotations

from bench.chaos.links import with_links
from bench.chaos.report import HEADER, Row, recovery_cell, table


def test_the_table_has_a_row_per_scenario_under_the_documented_columns() -> None:
    rows = [Row("1 router kill -9", sent=10, accepted=10, routed=10, recovery=[9.84, 12.0]),
            Row("5 callback", sent=2, problems=["projected 1 of 2"])]  # fmt: skip
    lines = table(rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == list(HEADER)
    assert len(lines) == 4
    assert "max 12.0 (9.8, 12.0)" in lines[2]
    assert "PROBLEM: projected 1 of 2" in lines[3]


def test_a_single_recovery_figure_and_none() -> None:
    assert recovery_cell([3.14]) == "3.1"
    assert recovery_cell([]) == "-"


def test_links_join_a_listed_task_to_its_actions() -> None:
    document = {"paths": {
        "/v1/tasks": {"get": {"operationId": "list", "responses": {"200": {}}}},
        "/v1/tasks/{task_id}": {"get": {"operationId": "one", "responses": {"200": {}}}},
        "/v1/tasks/{task_id}/resolve": {"post": {"operationId": "resolve", "responses": {}}},
    }}  # fmt: skip
    links = with_links(document)["paths"]["/v1/tasks"]["get"]["responses"]["200"]["links"]
    assert links["one"]["parameters"] == {"task_id": "$response.body#/tasks/0/task_id"}
    assert links["resolve"]["operationId"] == "resolve"
