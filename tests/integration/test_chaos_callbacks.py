"""Scenario 5, short (issue 10): an origin down for a two-attempt budget, then retried.

Every delivery is parked (state ``dead``) with its reason and exactly one dead
letter that names it (``row.problems`` lists a delivery without a letter, or with
two); after the origin is back, ``handoff deliveries retry --source`` (a real CLI
process) makes each reach it exactly once. ``make chaos``: 500 deliveries, the
default six attempts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import callbacks
from services.api.db import upgrade
from tests.processes import handoff_cli

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]


def test_parked_deliveries_reach_the_origin_once_when_the_operator_retries(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    row = callbacks.run(kafka_bootstrap, tmp_path, deliveries=20, attempts=2)
    print(f"\n{row.cells()}")
    assert row.problems == [], "every parked delivery has exactly one letter"
    assert row.accepted == row.sent == 20, "parked with a reason"
    assert row.dlq == 20, "one letter per parked delivery"
    assert row.routed == 20, "redelivered"
    assert row.lost == 0
    assert row.duplicated == 0


def test_retry_names_what_it_cannot_retry(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_DATABASE_URL"] = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(env["HANDOFF_DATABASE_URL"])
    nothing = handoff_cli(env, "deliveries", "retry")
    unknown = handoff_cli(env, "deliveries", "retry", "no-such-delivery")
    assert nothing.returncode == 2
    assert "--source" in nothing.stderr
    assert unknown.returncode == 1
    assert "no-such-delivery" in unknown.stderr
