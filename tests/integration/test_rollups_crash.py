"""Issue 12 (acceptance 5): the rollups survive a projector killed mid-stream (kill -9).

The API process projects ``task.routed`` events from the session's broker into a
PostgreSQL; it is killed with SIGKILL while projecting and started again, so the
records it stored but had not committed offsets for are projected a second time.
The figures must count every task once: equal to a rebuild from the task rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from bench.chaos.api_kills import Api, routed
from schemas import topics
from services.api import figures as read
from services.api.db import make_engine, upgrade
from services.api.rollups import rebuild
from tests.integration.router_process import unique
from tests.processes import wait_for

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]


def send(bootstrap: str, run: str, numbers: range) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in (routed(run, n) for n in numbers):
            producer.send(topics.ROUTED, key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()


def projected(engine: sa.Engine, run: str) -> int:
    query = sa.text("SELECT count(*) FROM tasks WHERE subject LIKE :run")
    with engine.connect() as conn:
        return int(conn.execute(query, {"run": f"{run} %"}).scalar_one())


def test_figures_count_each_task_once_after_a_kill_9_and_a_replay(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    api = Api(kafka_bootstrap, postgres_url, tmp_path)
    run = unique("rollups")
    try:
        api.start()
        send(kafka_bootstrap, run, range(400))
        time.sleep(1.0)  # it is projecting them
        api.kill()
        api.start()
        send(kafka_bootstrap, run, range(400, 600))
        wait_for("600 tasks projected", lambda: projected(engine, run) == 600, timeout=180)
        api.stop()
        with engine.connect() as conn:
            live = read.who_waits(conn)
        with engine.begin() as conn:
            rebuild(conn)
        with engine.connect() as conn:
            rebuilt = read.who_waits(conn)
    finally:
        api.stop()
        engine.dispose()
    [pair] = [w for w in live if w.team == "chaos-triage"]
    assert (pair.department, pair.open, pair.open_requests) == ("support", 600, 600)
    assert live == rebuilt
