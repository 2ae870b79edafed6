"""Scenario 4: the API ``kill -9``-ed during projection, and PostgreSQL restarted under it.

``task.routed`` events of one run go straight onto ``handoff.routed`` in chunks;
the API (a process, on PostgreSQL) projects them. After a chunk it is killed
with SIGKILL mid-projection and started again: the projector resumes from its
committed offsets and every task ends up in the database exactly once (one row,
``event_count`` 1, one origin). Then PostgreSQL itself is stopped and started
while the API projects: the projector must carry on without a restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from kafka import KafkaProducer

from bench.chaos.report import Row
from schemas import topics
from schemas.events import TASK_ROUTED, Priority, TaskRouted, derived_id, envelope
from services.api.db import upgrade
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from services.local.postgres import LocalPostgres
from tests.integration.router_process import unique
from tests.processes import Service, platform_env, spawn, start_group_at_end, stop, wait_healthy

PROJECTION_BOUND_S = 1200.0
IDLE_S = 60.0  # nothing projected for this long: what is missing is lost, not late


def routed(run: str, n: int) -> tuple[bytes, bytes]:
    """One ``task.routed`` of the run: (key, value), a task of its own."""
    now = datetime.now(UTC)
    source_event_id = f"{run}-{n}"
    data = TaskRouted(
        task_id=derived_id("task", source_event_id), source_event_id=source_event_id,
        source="/sources/support", team="chaos-triage", rule="chaos", account=f"a{n % 50}.example",
        priority=Priority.NORMAL, component=None, subject=f"{run} {n}", description="",
        requester_email="taro@example.co.jp", raised_at=now, routed_at=now,
        sla_due=now + timedelta(hours=8),
    )  # fmt: skip
    event = envelope(type_=TASK_ROUTED, source="/chaos", data=data, time=now,
                     event_id=derived_id("routed", source_event_id))  # fmt: skip
    return data.account.encode(), event.to_bytes()


class Api:
    """The API process on ``database_url``, projecting from a group that starts at the end."""

    def __init__(self, bootstrap: str, database_url: str, home: Path) -> None:
        self.env = platform_env(bootstrap, database_url, home)
        self.env["HANDOFF_API_DELIVERY"] = "false"
        self.home = home
        ensure_handoff_topics(bootstrap, [], partitions=4)
        start_group_at_end(bootstrap, self.env["HANDOFF_API_CONSUMER_GROUP"], topics.ROUTED)
        self.service: Service | None = None

    def start(self) -> None:
        url = f"http://127.0.0.1:{self.env['HANDOFF_API_PORT']}"
        self.service = spawn(
            "api", url, self.env, self.home, log_name=f"api-{uuid.uuid4().hex[:4]}"
        )
        wait_healthy(self.service, timeout=90)

    def kill(self) -> None:
        assert self.service is not None
        os.kill(self.service.proc.pid, signal.SIGKILL)
        self.service.proc.wait()

    def stop(self) -> None:
        if self.service is not None:
            stop(self.service.proc)


def counts(database_url: str, run: str) -> tuple[int, int]:
    """(tasks of the run, those not exactly once: event_count or origins other than 1)."""
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT count(*), coalesce(sum(CASE WHEN t.event_count <> 1 OR"
        " (SELECT count(*) FROM task_origins o WHERE o.task_id = t.task_id) > 1"
        " THEN 1 ELSE 0 END), 0) FROM tasks t WHERE t.subject LIKE :run"
    )
    try:
        with engine.connect() as conn:
            total, twice = conn.execute(query, {"run": f"{run} %"}).one()
            return int(total), int(twice)
    finally:
        engine.dispose()


def run(
    bootstrap: str, home: Path, events: int = 20_000, kills: int = 5, pg_events: int = 4_000
) -> list[Row]:
    """Both halves on a PostgreSQL of our own: the API kills, then the PostgreSQL restart."""
    # not under the caller's folder: as root the server runs as `postgres`, who must reach it
    # durable: a crash (an immediate stop) must not take back what was committed
    home_pg = Path(tempfile.mkdtemp(prefix="handoff-chaos-pg-"))
    server = LocalPostgres(home=home_pg, port=free_port(), durable=True)
    try:
        database_url = server.start()
        upgrade(database_url)
        api = Api(bootstrap, database_url, home)
        try:
            api.start()
            return [
                api_kills(api, bootstrap, events, kills),
                postgres_restart(api, server, bootstrap, pg_events),
            ]
        finally:
            api.stop()
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)


def api_kills(api: Api, bootstrap: str, events: int, kills: int) -> Row:
    run_id = unique("chaos-api")
    row = Row(f"4 API kill -9 x{kills} (PostgreSQL)", sent=events)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        chunks = [range(events)[i :: kills + 1] for i in range(kills + 1)]
        for kill in range(kills):
            row.accepted += _send(producer, run_id, chunks[kill])
            time.sleep(1.0)  # it is projecting this chunk
            api.kill()
            started = time.monotonic()
            api.start()
            row.recovery.append(time.monotonic() - started)
        row.accepted += _send(producer, run_id, chunks[kills])
    finally:
        producer.close()
    _settle(row, api, run_id)
    row.notes.insert(0, "routed = projected tasks; recovery = restart to healthy")
    return row


def postgres_restart(api: Api, server: LocalPostgres, bootstrap: str, events: int = 2_000) -> Row:
    run_id = unique("chaos-pg")
    row = Row("4 PostgreSQL restart under projection", sent=events)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        row.accepted += _send(producer, run_id, range(events // 2))
        server.stop(mode="immediate")  # a crash: no shutdown checkpoint
        time.sleep(5)
        row.accepted += _send(producer, run_id, range(events // 2, events))
        server.start()
        back = time.monotonic()
        _settle(row, api, run_id)
        row.recovery.append(time.monotonic() - back)
    finally:
        producer.close()
    row.notes.insert(0, "recovery = PostgreSQL back to every task projected")
    return row


def _send(producer: KafkaProducer, run_id: str, numbers: range) -> int:
    pairs = [routed(run_id, n) for n in numbers]
    futures = [producer.send(topics.ROUTED, key=key, value=value) for key, value in pairs]
    producer.flush(timeout=120)
    return sum(1 for f in futures if f.succeeded())


def _settle(row: Row, api: Api, run_id: str) -> None:
    """Wait until the run's tasks are all projected (or the bound); count; the API alive?"""
    database_url = api.env["HANDOFF_DATABASE_URL"]
    deadline = time.monotonic() + PROJECTION_BOUND_S
    last, before = time.monotonic(), -1
    while (found := counts(database_url, run_id))[0] < row.accepted:
        if found[0] != before:  # still projecting: late, not lost
            last, before = time.monotonic(), found[0]
        if time.monotonic() > deadline or time.monotonic() - last > IDLE_S:
            break
        time.sleep(0.5)
    row.routed, row.duplicated = found
    row.lost = row.accepted - row.routed
    if api.service is None or api.service.proc.poll() is not None:
        row.problems.append("the API exited")
