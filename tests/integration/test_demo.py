"""`handoff demo` runs to its summary, and the summary agrees with the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.local.kafka import LocalKafka, free_port
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

    summary = json.loads(summary_file.read_text())
    assert summary["consistent"] is True
    assert summary["tickets_accepted"] == summary["events_in_api"] == 60
    # Tickets about one component from several accounts share a task.
    assert summary["tasks_in_api"] < 60
    assert summary["invalid_rejected"] == 3

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'demo' / 'handoff.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT team, state, count(*) FROM tasks GROUP BY team, state")
        ).all()
        events = conn.execute(sa.text("SELECT sum(event_count) FROM tasks")).scalar_one()
    engine.dispose()
    stored: dict[str, dict[str, int]] = {}
    for team, state, count in rows:
        stored.setdefault(team, {"open": 0, "resolved": 0})[state] = count
    reported = {t["team"]: {"open": t["open"], "resolved": t["resolved"]} for t in summary["teams"]}
    assert reported == stored
    assert events == 60
    resolved = sum(t["resolved"] for t in reported.values())
    assert (
        resolved == summary["resolved_by_demo"] == summary["feedback_latency"]["overall"]["count"]
    )
    assert len(reported) >= 4  # sample traffic reaches several teams
