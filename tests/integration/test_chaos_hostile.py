"""Scenario 6, short (issue 10): schemathesis over the API process on PostgreSQL.

Each operation with a few generated cases, then stateful runs that follow the
OpenAPI links of bench/chaos/links.py; no answer ≥ 500, no request that hangs.
The ingest fuzzer runs in tests/unit (300 examples); ``make chaos`` runs both
parts with tens of thousands of cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import hostile

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]


def test_no_hostile_request_to_the_api_gets_a_5xx_or_hangs(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    row = hostile.run(kafka_bootstrap, postgres_url, tmp_path, ingest_examples=0,
                      api_examples=4, scenarios=25)  # fmt: skip
    print(f"\n{row.cells()}")
    assert row.problems == []
    assert row.sent >= 200, "a few hundred calls"
    assert row.accepted > 0, "some calls get through (the token and the links work)"
