"""API reads over 100,000 tasks in PostgreSQL: requests/s, p50 and p99 at a fixed concurrency.

    python -m bench.api_reads [--tasks 100000] [--concurrency 8] [--requests 400]

Starts a throwaway PostgreSQL (or uses HANDOFF_BENCH_DATABASE_URL), migrates
it, bulk-loads the tasks (40 teams, 5,000 accounts, half of them answered),
serves the API with uvicorn on 127.0.0.1 (token auth on, no projector, no
deliverer) and measures, each with ``--concurrency`` client threads:
``GET /healthz`` (the baseline: no query), a team queue, one task's detail,
the feedback-latency stats, and the per department x team figures.
Ratios are to the baseline of the same run. Numbers are printed, never judged.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from services.api import auth
from services.api.app import create_app
from services.api.db import ORIGINS, TASKS, make_engine, upgrade
from services.api.settings import ApiSettings
from services.local.kafka import free_port
from services.local.postgres import LocalPostgres

TEAMS = [f"team-{n:02d}" for n in range(40)]
DEPARTMENTS = ["support", "sales", "production", "marketing"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


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


def rows(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for n in range(count):
        raised = T0 + timedelta(seconds=n * 30)
        answered = rng.random() < 0.5
        latency = rng.uniform(60, 3 * 86_400)
        department = DEPARTMENTS[n % len(DEPARTMENTS)]
        yield {
            "task_id": f"task-{n:07d}",
            "source_event_id": f"event-{n:07d}",
            "source": f"/sources/{department}",
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
            "department": department,
            "updated_at": raised + timedelta(seconds=2),
            "acknowledged_at": None,
            "feedback_delivered_at": None,
        }


def load(engine: sa.Engine, count: int) -> None:
    """The tasks, each with its request as its origin (as the projector records them)."""
    rng = random.Random(5)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows(count, rng):
            batch.append(row)
            if len(batch) == 5000:
                _insert(conn, batch)
                batch = []
        if batch:
            _insert(conn, batch)
        conn.execute(sa.text("ANALYZE"))


def _insert(conn: sa.Connection, tasks: list[dict[str, Any]]) -> None:
    conn.execute(TASKS.insert(), tasks)
    origins = [
        {
            "task_id": t["task_id"],
            "event_id": t["source_event_id"],
            "source": t["source"],
            "ref": t["source_event_id"].removeprefix("event-"),
            "requester_email": t["requester_email"],
            "raised_at": t["raised_at"],
        }
        for t in tasks
    ]
    conn.execute(ORIGINS.insert(), origins)


@contextmanager
def serving(url: str, engine: sa.Engine) -> Iterator[str]:
    port = free_port()
    settings = ApiSettings(
        database_url=url, api_projector=False, api_delivery=False, api_page_size_max=100
    )
    app = create_app(settings, engine=engine, publisher=_NoPublisher())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


class _NoPublisher:
    def publish(self, event: Any, *, key: str) -> None:
        raise NotImplementedError("the benchmark only reads")

    def close(self) -> None:
        pass


def measure(
    base: str, token: str, path: Callable[[int], str], requests: int, concurrency: int
) -> tuple[float, float, float]:
    """(requests/s, p50 s, p99 s) for ``requests`` GETs from ``concurrency`` threads."""
    local = threading.local()

    def one(n: int) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
        began = time.perf_counter()
        response = client.get(path(n))
        took = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"{path(n)}: {response.status_code} {response.text[:200]}")
        return took

    for n in range(concurrency):  # warm up connections and caches
        one(n)
    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        took = sorted(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - began
    return requests / elapsed, took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with database() as url:
        upgrade(url)
        engine = make_engine(url, pool_size=args.concurrency + 4)
        try:
            began = time.perf_counter()
            load(engine, args.tasks)
            print(f"loaded {args.tasks:,} tasks in {time.perf_counter() - began:.1f} s")
            token = auth.create_token(
                engine, team=None, scope="admin", name="bench", now=datetime.now(UTC)
            ).token
            scenarios: list[tuple[str, Callable[[int], str], int]] = [
                ("baseline GET /healthz", lambda n: "/healthz", args.requests),
                (
                    "team queue (50 open)",
                    lambda n: f"/v1/teams/{TEAMS[n % len(TEAMS)]}/tasks?state=open&limit=50",
                    args.requests,
                ),
                (
                    "task detail",
                    lambda n: f"/v1/tasks/task-{(n * 7919) % args.tasks:07d}",
                    args.requests,
                ),
                (
                    "feedback latency stats",
                    lambda n: "/v1/stats/feedback-latency",
                    args.requests // 10,
                ),
                (
                    "figures (dept x team)",
                    lambda n: "/v1/stats/figures",
                    max(8, args.requests // 40),
                ),
            ]
            with serving(url, engine) as base:
                print(
                    f"{'read':28} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'x baseline p50':>15}"
                )
                baseline = None
                for name, path, count in scenarios:
                    rate, p50, p99 = measure(base, token, path, count, args.concurrency)
                    baseline = baseline or p50
                    print(
                        f"{name:28} {rate:9.1f} {p50 * 1000:9.1f} {p99 * 1000:9.1f} "
                        f"{p50 / baseline:15.1f}"
                    )
            print(f"(concurrency {args.concurrency}, {args.tasks:,} tasks in PostgreSQL)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
