"""Projector throughput: task.routed events into PostgreSQL against a bulk insert of the same rows.

Issue 15, target 6: the API's projector writes ≥ 0.5× the rows per second of a bulk
insert of the same rows, in the same run, on the same PostgreSQL.

    python -m bench.projector_throughput [--events 5000] [--json]

One local broker and one PostgreSQL of its own (durable: fsync and synchronous
commits on, as in production), two databases on it:

- ``bulk``: the ``tasks`` rows the events become (``services.api.projection.task_row``),
  inserted in one transaction with one executemany: the database's ceiling for them.
- ``projector``: the events on ``handoff.routed``, projected by the API's own
  :class:`~services.api.projector.Projector` (one group, started after every event
  is on the topic); timed from its first stored task to its last.

Both databases are at the schema's head (``alembic upgrade``). Never fails on noise: it
prints the figures and the ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from bench.chaos.api_kills import routed
from bench.ingest_throughput import Phase, phase
from bench.router_throughput import broker
from schemas import topics
from services.api.consumer import ProjectorConfig
from services.api.db import TASKS, make_engine, upgrade
from services.api.metrics import ApiMetrics
from services.api.projection import decode_event, task_row
from services.api.projector import KafkaDeadLetters, Projector
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from services.local.postgres import LocalPostgres
from tests.databases import fresh_postgres_database

PARTITIONS = 4
PROJECTION_BOUND_S = 900.0


def events(run: str, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` task.routed events of their own tasks, over 50 accounts: (key, value)."""
    return [routed(run, n) for n in range(count)]


def bulk_phase(url: str, pairs: list[tuple[bytes, bytes]]) -> Phase:
    now = datetime.now(UTC)
    rows = [task_row(decode_event(value), projected_at=now) for _, value in pairs]
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(TASKS.insert(), rows)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return phase("bulk insert", len(rows), seconds, "tasks rows, one executemany, one commit")


def projector_phase(url: str, bootstrap: str, pairs: list[tuple[bytes, bytes]]) -> Phase:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in pairs:
            producer.send(topics.ROUTED, key=key, value=value)
        producer.flush(timeout=120)
    finally:
        producer.close()
    engine = make_engine(url)
    config = ProjectorConfig(bootstrap=bootstrap, group_id=f"bench-projector-{uuid.uuid4().hex}")
    projector = Projector(
        engine, config, metrics=ApiMetrics(CollectorRegistry()),
        dead_letters=KafkaDeadLetters(bootstrap),
    )  # fmt: skip
    try:
        projector.start()
        first, last = _stored_between(engine, len(pairs))
    finally:
        projector.stop()
        engine.dispose()
    outcomes = dict(projector.processed)
    if outcomes.get("inserted", 0) != len(pairs):
        raise RuntimeError(f"the projector stored {outcomes}, not {len(pairs)} tasks")
    return phase("projector", len(pairs) - 1, last - first, "first stored task to the last")


def _stored_between(engine: sa.Engine, count: int) -> tuple[float, float]:
    """Monotonic times of the first task stored and of the ``count``-th."""
    first: float | None = None
    deadline = time.monotonic() + PROJECTION_BOUND_S
    query = sa.select(sa.func.count()).select_from(TASKS)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            stored = int(conn.execute(query).scalar_one())
        now = time.monotonic()
        if stored and first is None:
            first = now
        if stored >= count and first is not None:
            return first, now
        time.sleep(0.05)
    raise RuntimeError(f"not every task projected within {PROJECTION_BOUND_S:.0f} s")


def run(count: int, *, durable: bool = True) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="handoff-bench-projector-") as tmp:
        home = Path(tmp)
        # not under tmp's owner alone: as root the server runs as `postgres`, who must reach it
        pg_home = Path(tempfile.mkdtemp(prefix="handoff-bench-pg-"))
        server = LocalPostgres(home=pg_home, port=free_port(), durable=durable)
        try:
            server.start()
            with ExitStack() as databases:
                urls = [databases.enter_context(_database(server.url)) for _ in range(2)]
                for url in urls:  # bulk, projector: both at the schema's head
                    upgrade(url)
                with broker(home) as (bootstrap, kind):
                    ensure_handoff_topics(bootstrap, [], partitions=PARTITIONS)
                    pairs = events(run_id, count)
                    phases = [
                        bulk_phase(urls[0], pairs),
                        projector_phase(urls[1], bootstrap, pairs),
                    ]
        finally:
            server.stop()
            shutil.rmtree(pg_home, ignore_errors=True)
    return {
        "broker": kind,
        "postgresql": "local, "
        + ("durable (fsync, synchronous commits)" if durable else "no fsync (as the tests')"),
        "phases": [asdict(p) for p in phases],
        "ratio_projector_to_bulk": round(phases[1].per_s / phases[0].per_s, 3),
    }


_database = contextmanager(fresh_postgres_database)  # an empty database, dropped after


def render(report: dict[str, Any]) -> str:
    lines = [f"projector throughput, {report['broker']}; PostgreSQL {report['postgresql']}", ""]
    lines.append(f"{'phase':<12} {'rows':>7} {'seconds':>8} {'rows/s':>9}  note")
    for p in report["phases"]:
        figures = f"{p['done']:>7} {p['seconds']:>8g} {p['per_s']:>9g}"
        lines.append(f"{p['name']:<12} {figures}  {p['note']}")
    lines += ["", f"projector / bulk insert (target >= 0.5): {report['ratio_projector_to_bulk']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--no-fsync", action="store_true",
        help="PostgreSQL as the tests run it (no fsync, asynchronous commits): the CPU's share",
    )  # fmt: skip
    args = parser.parse_args(argv)
    report = run(args.events, durable=not args.no_fsync)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
