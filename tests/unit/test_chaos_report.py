"""The fault suite's table and the OpenAPI links its stateful runs follow (bench/chaos)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.chaos.__main__ import chosen_scenarios, timings
from bench.chaos.links import with_links
from bench.chaos.report import HEADER, Row, recovery_cell, table
from bench.chaos.tally import ParkedLetters
from schemas.dlq import DeadLetter


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


def letter(reason: str, error_type: str = "CallbackDeliveryFailed") -> bytes:
    return DeadLetter.from_raw(
        reason=reason, error_type=error_type, topic="handoff.feedback", partition=-1,
        offset=-1, key=b"a.example", value=b"{}", service="api", at=datetime.now(UTC),
    ).to_bytes()  # fmt: skip


def test_every_parked_delivery_needs_exactly_one_letter_naming_it() -> None:
    count = ParkedLetters()
    for delivery in ("d1", "d2", "d2"):
        count.take(letter(f"callback delivery {delivery} to http://o/h for task t failed 6 times"))
    count.take(letter("no such thing", error_type="InvalidCloudEvent"))
    assert count.problems(["d1", "d2", "d3"]) == [
        "1 parked deliveries without a letter",
        "1 deliveries with more than one letter",
        "a letter naming no delivery: InvalidCloudEvent: no such thing",
    ]


def test_one_letter_each_is_no_problem() -> None:
    count = ParkedLetters()
    count.take(letter("callback delivery d1 to http://o/h for task t failed 2 times; last: x"))
    assert count.problems(["d1"]) == []


def test_the_total_wall_time_line_names_each_scenario() -> None:
    line = timings({"1": 301.4, "6": 120.0}, 421.4)
    assert line == "total wall time: 421s (7.0 min); per scenario: 1: 301s, 6: 120s"


def test_no_scenario_named_means_all_six_and_an_unknown_one_is_refused() -> None:
    assert chosen_scenarios([]) == ["1", "2", "3", "4", "5", "6"]
    assert chosen_scenarios(["1", "3"]) == ["1", "3"]
    with pytest.raises(SystemExit):
        chosen_scenarios(["7"])
