"""`handoff demo` runs to its summary, and the summary agrees with the database.

Its traffic covers the three stories (support -> engineering, rush orders against
capacity, outcomes and lead changes for marketing) so every dashboard page has data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from services.local.kafka import LocalKafka, free_port
from services.traffic import OVERDUE_SUBJECTS
from services.traffic_sales import ACME_CRM_ID
from tests.processes import REPO_ROOT


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo reads every topic from the start, so it gets a broker of its own."""
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("demo-kafka"), port=free_port(), controller_port=free_port()
    )
    try:
        yield broker.up(timeout=120)
    finally:
        broker.down()


def test_demo_summary_matches_what_the_api_stored(own_broker: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_KAFKA_BOOTSTRAP=own_broker,
        HANDOFF_INGEST_PORT=str(free_port()),
        HANDOFF_API_PORT=str(free_port()),
        HANDOFF_ROUTER_WEB_PORT=str(free_port()),
        HANDOFF_ROUTER_APP_ID=f"handoff-router-{uuid.uuid4().hex[:8]}",
        HANDOFF_ROUTER_RULES_FILE=str(REPO_ROOT / "deploy" / "config" / "routing.yaml"),
    )
    summary_file = tmp_path / "summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--tickets", "60",
         "--exit-after-summary", "--summary-json", str(summary_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "handoff demo summary" in result.stdout
    assert "stopped everything the demo started" in result.stdout

    assert re.search(r"Dashboard: http://127\.0\.0\.1:\d+/dashboard", result.stdout)
    assert re.search(r"sign in at http://\S+/dashboard/sign-in with hf_\S+", result.stdout)

    summary = json.loads(summary_file.read_text())
    assert summary["consistent"] is True
    tickets = 60 + len(OVERDUE_SUBJECTS)
    assert summary["tickets_accepted"] == summary["tickets_posted"] == tickets
    assert summary["invalid_rejected"] == 3
    assert summary["sales_notes_accepted"] > summary["rush_orders"] > 0
    requests = tickets + summary["sales_notes_accepted"]
    assert summary["requests_in_api"] == requests
    # Tickets about one component from several accounts share a task.
    assert summary["tasks_in_api"] < requests

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'demo' / 'handoff.db'}")
    try:
        with engine.connect() as conn:
            _assert_stored(conn, summary, requests)
    finally:
        engine.dispose()


def _assert_stored(conn: sa.Connection, summary: dict[str, Any], requests: int) -> None:
    """What the summary says is what the API's database holds, for all three stories."""
    rows = conn.execute(sa.text("SELECT team, state, count(*) FROM tasks GROUP BY team, state"))
    stored: dict[str, dict[str, int]] = {}
    for team, state, count in rows:
        stored.setdefault(team, {})[state] = count
    assert {
        t["team"]: {k: v for k, v in t["states"].items() if v} for t in summary["teams"]
    } == stored
    assert conn.execute(sa.text("SELECT count(*) FROM task_origins")).scalar_one() == requests
    assert len(stored) >= 6  # support's owners, planning and marketing
    # story 1: the support teams' answers
    people = conn.execute(sa.text(
        "SELECT count(*) FROM tasks WHERE state = 'resolved' AND department = 'support' "
        "AND coalesce(answered_by, '') != 'router'")).scalar_one()  # fmt: skip
    assert people == summary["resolved_by_demo"] > 0
    # story 2: rush orders answered at once (units held) and others turned into planning work
    router = summary["feedback_latency"]["router"]["count"]
    assert 0 < router < summary["rush_orders"]
    held = conn.execute(sa.text("SELECT count(*) FROM capacity_holds WHERE state = 'held'"))
    assert held.scalar_one() == summary["holds"] > 0
    planning = stored["production-planning"]
    assert sum(planning.values()) == summary["rush_orders"]
    assert planning.get("acknowledged", 0) + planning.get("resolved", 0) > router
    # story 3: outcomes with loss reasons (the rep's own words kept) over several campaigns
    lost = conn.execute(sa.text(
        "SELECT count(*) FROM sales_outcomes WHERE intent = 'deal_lost' "
        "AND loss_reason IS NOT NULL AND loss_reason_text IS NOT NULL")).scalar_one()  # fmt: skip
    assert lost > 0
    assert len(summary["lead_quality"]["groups"]) == 3
    assert summary["sales_side"]["acknowledged"] > summary["sales_side"]["resolved"] > 0
    # one customer across departments: Acme's CRM account holds its tickets and its deals
    departments = conn.execute(
        sa.text("SELECT DISTINCT department FROM tasks WHERE account = :a"),
        {"a": f"crm:{ACME_CRM_ID}"},
    ).scalars()
    assert set(departments) >= {"support", "sales"}
