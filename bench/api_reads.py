"""API reads over N tasks in PostgreSQL: p50 and p99 at a fixed concurrency, x /healthz.

    python -m bench.api_reads [--tasks 100000] [--concurrency 8] [--requests 400]
    python -m bench.api_reads --verify [--tasks 2000]

Starts a throwaway PostgreSQL (or uses HANDOFF_BENCH_DATABASE_URL), migrates
it, bulk-loads the tasks with COPY (up to 1,000,000 and more: 40 teams, 5,000
accounts, 1-4 requests grouped per task, 97 % answered but half of the last three
days', a tenth of the answers by the router itself; the newest raised now, so the
dashboard's windows hold them), builds the figures' rollups in bulk from the generated
rows through the production tally (``bench.api_reads_rollups``: a minute where
``handoff stats rebuild`` takes twenty at a million; ``--verify`` compares the two),
runs VACUUM ANALYZE (as autovacuum would after a bulk load), serves the API with
uvicorn on 127.0.0.1 (token auth on, no projector, no deliverer)
and measures, each with ``--concurrency`` client threads: ``GET /healthz`` (the
baseline: no query), a team queue, one task's detail, the feedback-latency stats, the
figures (all time, and the last 24 h), who waits on whom and the dashboard's overview
(signed in), the figures as cache hits (the same read again), after a write (one task
changed before each read: the figures computed again from patched window sums) and cold
(nothing kept in the server). Ratios are to the baseline of the same run. Numbers are
printed, never judged; not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import api_reads_measure as bench_reads
from bench import api_reads_rollups as bulk
from services.api.db import ORIGINS, TASKS, make_engine, upgrade
from services.api.tally import Delta, RollupKey
from services.core.departments import asking_department
from services.local.kafka import free_port
from services.local.postgres import LocalPostgres

TEAMS = bench_reads.TEAMS
SOURCES = ["zendesk", "freshdesk", "support", "salesforce", "hubspot", "sales"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Task = dict[str, Any]


@contextmanager
def database() -> Iterator[str]:
    if given := os.environ.get("HANDOFF_BENCH_DATABASE_URL"):
        yield given
        return
    server = LocalPostgres(
        home=Path(tempfile.mkdtemp(prefix="handoff-bench-pg-")), port=free_port()
    )
    try:
        yield server.start()
    finally:
        server.stop()


def rows(count: int, rng: random.Random, start: datetime = T0) -> Iterator[Task]:
    step = max(1.0, 30 * 100_000 / max(count, 1))  # 100,000 tasks: a month of them
    recent = count - int(3 * 86_400 / step)  # the last three days: half still open
    for n in range(count):
        raised = start + timedelta(seconds=n * step)
        answered = rng.random() < (0.5 if n >= recent else 0.97)
        by_router = answered and rng.random() < 0.1
        latency = rng.uniform(0.03, 0.09) if by_router else rng.uniform(60, 3 * 86_400)
        source = SOURCES[n % len(SOURCES)]
        yield {
            "task_id": f"task-{n:07d}",
            "source_event_id": f"event-{n:07d}",
            "source": f"/sources/{source}",
            "team": TEAMS[rng.randrange(len(TEAMS))],
            "rule": "component:bench",
            "account": f"customer-{rng.randrange(5000)}.example",
            "priority": rng.choice(["low", "normal", "high", "urgent"]),
            "component": "bench",
            "subject": f"請求書の画面が分かりにくい #{n}",
            "description": "支払い方法の変更ボタンが見つかりません",
            "requester_email": "someone@example.co.jp",
            "state": "resolved"
            if answered
            else rng.choice(["open", "acknowledged", "in_progress"]),
            "raised_at": raised,
            "routed_at": raised + timedelta(seconds=1),
            "sla_due": raised + timedelta(hours=8),
            "projected_at": raised + timedelta(seconds=2),
            "resolved_at": raised + timedelta(seconds=latency) if answered else None,
            "resolution": "done" if answered else None,
            "feedback_latency_s": latency if answered else None,
            "version": 1,
            "department": asking_department(f"/sources/{source}"),
            "updated_at": raised + timedelta(seconds=2),
            "acknowledged_at": raised + timedelta(seconds=latency / 2) if answered else None,
            "feedback_delivered_at": None,
            "event_count": 1 + n % 4,
            "resolve_by": raised + timedelta(hours=24),
            "answered_by": ("router" if by_router else "team") if answered else None,
        }


def origins(task: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The requests grouped into a task (``event_count`` of them, minutes apart)."""
    for i in range(task["event_count"]):
        yield {
            "task_id": task["task_id"],
            "event_id": task["source_event_id"] + (f".{i}" if i else ""),
            "source": task["source"],
            "ref": task["source_event_id"].removeprefix("event-"),
            "requester_email": task["requester_email"],
            "raised_at": task["raised_at"] + timedelta(minutes=3 * i),
        }


def load(engine: sa.Engine, tasks: list[Task]) -> None:
    """The tasks and their requests, with COPY on PostgreSQL (INSERTs elsewhere)."""
    requests = [origin for task in tasks for origin in origins(task)]
    with engine.begin() as conn:
        for table, values in ((TASKS, tasks), (ORIGINS, requests)):
            if conn.dialect.name == "postgresql":
                _copy(conn, table, values)
            else:
                conn.execute(table.insert(), values)


def _copy(conn: sa.Connection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    """COPY ... FROM STDIN through psycopg: a million rows in seconds, not minutes."""
    names = list(values[0])
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for value in values:
            copy.write_row([value[name] for name in names])


def rows_span(count: int) -> timedelta:
    """How long the generated tasks' raise times span."""
    return timedelta(seconds=count * max(1.0, 30 * 100_000 / max(count, 1)))


def start_for(count: int, now: datetime) -> datetime:
    """The first raise, on an hour, so that the last one is about ``now``."""
    return (now - rows_span(count)).replace(minute=0, second=0, microsecond=0)


def sums_of(tasks: list[Task]) -> dict[RollupKey, Delta]:
    return bulk.deltas((task, list(origins(task))) for task in tasks)


def build_rollups(engine: sa.Engine, tasks: list[Task]) -> None:
    """The rollups in bulk (as the production rebuild would write them), then VACUUM ANALYZE."""
    began = time.perf_counter()
    sums = sums_of(tasks)
    with engine.begin() as conn:
        written = bulk.write(conn, sums)
    _analyze(engine)
    print(f"rollups built in bulk: {written:,} rows in {time.perf_counter() - began:.1f} s")


def _analyze(engine: sa.Engine) -> None:
    """VACUUM ANALYZE, as autovacuum would after a bulk load: the planner's statistics, and
    the visibility map that lets a read answer from an index alone."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))


def verify(engine: sa.Engine, tasks: list[Task]) -> int:
    """Compare the bulk rollups with the production rebuild's; 0 when they agree."""
    began = time.perf_counter()
    with engine.begin() as conn:
        compared, differ = bulk.verify(conn, sums_of(tasks))
    took = time.perf_counter() - began
    for line in differ[:20]:
        print(line)
    verdict = "agree" if not differ else f"DIFFER in {len(differ):,} rows"
    print(f"bulk rollups vs rebuild over {len(tasks):,} tasks: {compared:,} rows, {verdict}"
          f" ({took:.1f} s)")  # fmt: skip
    return 1 if differ else 0


def generated(count: int) -> list[Task]:
    return list(rows(count, random.Random(5), start_for(count, datetime.now(UTC))))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=None, help="100,000 (2,000 with --verify)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--write-rate", type=float, default=10.0, help="task changes a second in the busy reads"
    )
    parser.add_argument(
        "--verify", action="store_true", help="compare the bulk rollups with the rebuild, exit"
    )
    args = parser.parse_args()
    args.tasks = args.tasks or (2_000 if args.verify else 100_000)
    return args


def run(engine: sa.Engine, url: str, args: argparse.Namespace) -> int:
    tasks = generated(args.tasks)
    began = time.perf_counter()
    load(engine, tasks)
    print(f"loaded {args.tasks:,} tasks in {time.perf_counter() - began:.1f} s")
    if args.verify:
        return verify(engine, tasks)
    build_rollups(engine, tasks)
    last_day = tasks[-1]["raised_at"] - timedelta(hours=24)
    del tasks
    bench_reads.report(engine, url, args, last_day)
    return 0


def main() -> None:
    args = arguments()
    with database() as url:
        upgrade(url)
        engine = make_engine(url, pool_size=args.concurrency + 4)
        try:
            code = run(engine, url, args)
        finally:
            engine.dispose()
    sys.exit(code)


if __name__ == "__main__":
    main()
