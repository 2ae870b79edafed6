"""The reads ``bench.api_reads`` measures, and how: the server, the clients, the table.

Each read runs ``--concurrency`` client threads against uvicorn on 127.0.0.1 in this
process. The figures are read four ways: as cache *hits* (the same read again, answered
from ``services.api.figures``' per-version cache); on a *busy* system (another process
changes ``--write-rate`` tasks a second through the writers, as a projector does, while
the clients read: a read after a change computes the figures again, from the window sums
``services.api.rollup_kept`` patches by the keys that changed); after a *write* (one task
changed in this process just before each request: every read is the first of its version,
and the writer's work shares the server's process); and *cold* (every cache swapped for
one that keeps nothing, so every request reads every row of its window).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import sqlalchemy as sa
import uvicorn

from services.api import active_kept, auth, figures, rollup_kept
from services.api.app import create_app
from services.api.dashboard import series
from services.api.flights import Flights
from services.api.models import TASKS
from services.api.rollups import tallied
from services.api.server import quiet_collector
from services.api.settings import ApiSettings
from services.local.kafka import free_port

T = TypeVar("T")
TEAMS = [f"team-{n:02d}" for n in range(40)]
Client = Callable[[], httpx.Client]
HEADER = f"{'read':28} {'cache':>5} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'x /healthz':>11}"


@contextmanager
def serving(url: str, engine: sa.Engine) -> Iterator[str]:
    port = free_port()
    settings = ApiSettings(
        database_url=url, api_projector=False, api_delivery=False, api_page_size_max=100
    )
    app = create_app(settings, engine=engine, publisher=_NoPublisher())
    quiet_collector()  # as ``handoff serve api`` does
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    _wait_healthy(base)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)


class _NoPublisher:
    def publish(self, event: Any, *, key: str) -> None:
        raise NotImplementedError("the benchmark only reads")

    def close(self) -> None:
        pass


class _KeepsNothing(dict[tuple[Any, ...], Any]):
    """A cache that never holds anything: every read computes its figures."""

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        pass


class _FliesAlone(Flights):
    def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        return compute()


@contextmanager
def uncached() -> Iterator[None]:
    """The figures' cache, the kept window sums, the kept chart rows and the kept active
    tasks switched off in this process (the server runs in it)."""
    cache, sums, charts, flights = figures._cache, rollup_kept._kept, series._kept, figures.flights
    figures._cache, rollup_kept._kept, series._kept = (_KeepsNothing() for _ in range(3))
    figures.flights = _FliesAlone()  # each request computes, none shares another's
    active_kept.switched["on"] = False  # the active tasks scanned, not kept
    try:
        yield
    finally:
        figures._cache, rollup_kept._kept, series._kept = cache, sums, charts
        figures.flights = flights
        active_kept.switched["on"] = True


def touch(engine: sa.Engine, tasks: int) -> Callable[[int], None]:
    """``before`` for the *write* reads: one task acknowledged at another minute, through the
    writers (its rollup rows change, and the version with them)."""

    # a new change each time, in this run and the next on the same database
    made = itertools.count(random.randrange(1, 10**9))

    def write(_: int) -> None:
        k = next(made)
        task_id = f"task-{(k * 104729) % tasks:07d}"
        of_task = TASKS.c.task_id == task_id
        with engine.begin() as conn:
            raised = conn.scalar(sa.select(TASKS.c.raised_at).where(of_task))
            if raised is None:
                raise RuntimeError(f"no {task_id} among the bench's tasks")
            later = raised + timedelta(seconds=60 + k % 86_400, microseconds=k % 997)
            change = sa.update(TASKS).where(of_task).values(acknowledged_at=later)
            tallied(conn, [task_id], lambda: conn.execute(change))

    return write


def write_steadily(url: str, tasks: int, rate: float, stop: Any, written: Any) -> None:
    """``rate`` task changes a second through the writers until ``stop`` (another process)."""
    from services.api.db import make_engine

    engine = make_engine(url)
    write, period = touch(engine, tasks), 1.0 / rate
    due = time.monotonic()
    while not stop.is_set():
        write(0)
        written.value += 1
        due += period
        stop.wait(max(0.0, due - time.monotonic()))
    engine.dispose()


@contextmanager
def busy(url: str, tasks: int, rate: float) -> Iterator[Callable[[], int]]:
    """A writer process changing ``rate`` tasks a second meanwhile; how many it changed."""
    spawn = multiprocessing.get_context("spawn")
    stop, written = spawn.Event(), spawn.Value("i", 0)
    writer = spawn.Process(target=write_steadily, args=(url, tasks, rate, stop, written))
    writer.start()
    try:
        started = time.monotonic() + 60
        while written.value == 0 and writer.is_alive() and time.monotonic() < started:
            time.sleep(0.05)  # its start-up (imports, a connection) is not the busy system
        if written.value == 0:
            raise RuntimeError("the busy reads' writer changed no task within 60 s")
        yield lambda: int(written.value)
    finally:
        stop.set()
        writer.join(30)
        if writer.is_alive():
            writer.kill()


def api_client(base: str, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return lambda: httpx.Client(base_url=base, headers=headers, timeout=120)


def dashboard_client(base: str, token: str) -> Client:
    """Clients holding a dashboard session: the token pasted once into the sign-in form."""
    with httpx.Client(base_url=base, timeout=60) as signing:
        form = signing.get("/dashboard/sign-in").text
        found = re.search(r'name="csrf" value="([^"]+)"', form)
        if found is None:
            raise RuntimeError("no CSRF token in the sign-in form")
        signing.post("/dashboard/sign-in", data={"token": token, "csrf": found.group(1)})
        cookies = httpx.Cookies(signing.cookies)
    return lambda: httpx.Client(base_url=base, cookies=cookies, timeout=120)


def measure(
    client: Client,
    path: Callable[[int], str],
    requests: int,
    concurrency: int,
    before: Callable[[int], None] | None = None,
) -> tuple[float, float, float]:
    """(requests/s, p50 s, p99 s) for ``requests`` GETs from ``concurrency`` threads;
    ``before(n)``, untimed, ahead of each."""
    local = threading.local()

    def one(n: int) -> float:
        session = getattr(local, "client", None) or client()
        local.client = session
        if before is not None:
            before(n)
        began = time.perf_counter()
        response = session.get(path(n))
        took = time.perf_counter() - began
        if response.status_code != 200 or "/sign-in" in str(response.url):
            raise RuntimeError(f"{path(n)}: {response.status_code} {response.text[:200]}")
        return took

    for n in range(concurrency):  # warm up connections (and, for hits, the cache)
        one(n)
    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        took = sorted(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - began
    return requests / elapsed, took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))]


@dataclass(frozen=True)
class Read:
    name: str
    cache: str  # "hit", "busy", "write", "cold" or "-" (no figures cache on the way)
    path: Callable[[int], str]
    requests: int
    page: bool = False  # a dashboard page (the session cookie), else the API (the token)


def _figure_reads(
    name: str, path: str, requests: int, busy_requests: int, page: bool = False
) -> list[Read]:
    """Hit, busy, write and cold; busy over more requests, so the writer changes a few dozen
    tasks while they are read."""
    return [
        Read(name, "hit", lambda n: path, requests, page),
        Read(name, "busy", lambda n: path, busy_requests, page),
        Read(name, "write", lambda n: path, requests, page),
        Read(name, "cold", lambda n: path, requests, page),
    ]


def reads(tasks: int, requests: int, last_day: datetime) -> list[Read]:
    day = quote(last_day.isoformat())
    few = max(8, requests // 10)
    pages = max(16, requests // 25)  # seconds each at a million tasks: fewer
    return [
        Read("baseline GET /healthz", "-", lambda n: "/healthz", requests),
        Read("team queue (50 open)", "-", _queue, requests),
        Read("task detail", "-", lambda n: f"/v1/tasks/task-{(n * 7919) % tasks:07d}", requests),
        *_figure_reads("feedback latency stats", "/v1/stats/feedback-latency", few, requests),
        *_figure_reads("figures (dept x team)", "/v1/stats/figures", few, requests),
        *_figure_reads("figures, last 24 h", f"/v1/stats/figures?since={day}", few, requests),
        *_figure_reads("who waits on whom", "/v1/stats/who-waits", few, requests),
        *_figure_reads("dashboard overview HTML", "/dashboard", pages, requests, page=True),
    ]


def _queue(n: int) -> str:
    return f"/v1/teams/{TEAMS[n % len(TEAMS)]}/tasks?state=open&limit=50"


def _cache_as(cache: str) -> AbstractContextManager[None]:
    return uncached() if cache == "cold" else nullcontext()


def report(engine: sa.Engine, url: str, args: argparse.Namespace, last_day: datetime) -> None:
    """Serve the API and print one line per read, with its p50 as a multiple of /healthz's."""
    token = auth.create_token(engine, team=None, scope="admin", name="bench", now=datetime.now(UTC))
    with serving(url, engine) as base:
        clients = {False: api_client(base, token.token), True: dashboard_client(base, token.token)}
        print(HEADER)
        baseline = 0.0
        for read in reads(args.tasks, args.requests, last_day):
            with _cache_as(read.cache), _writing(read.cache, url, args) as changed:
                before = touch(engine, args.tasks) if read.cache == "write" else None
                began = time.perf_counter()
                rate, p50, p99 = measure(
                    clients[read.page], read.path, read.requests, args.concurrency, before
                )
                note = _busy_note(changed(), time.perf_counter() - began)
            baseline = baseline or p50
            print(f"{read.name:28} {read.cache:>5} {rate:9.1f} {p50 * 1000:9.1f} "
                  f"{p99 * 1000:9.1f} {p50 / baseline:11.1f}{note}", flush=True)  # fmt: skip
    print(
        f"(concurrency {args.concurrency}, {args.tasks:,} tasks in PostgreSQL; hit: the same "
        f"read again; busy: {args.write_rate:g} task changes a second from another process; "
        "write: a task changed before each read, in this process; cold: nothing kept)"
    )


def _writing(
    cache: str, url: str, args: argparse.Namespace
) -> AbstractContextManager[Callable[[], int | None]]:
    if cache == "busy":
        return busy(url, args.tasks, args.write_rate)
    return nullcontext(lambda: None)


def _busy_note(changed: int | None, seconds: float) -> str:
    return "" if changed is None else f"  ({changed / seconds:.1f} changes/s)"
