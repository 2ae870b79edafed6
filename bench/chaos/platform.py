"""The whole platform (ingest, router, api as processes) under HTTP traffic, for broker faults.

Tickets are posted to ingest by a few threads without pause; every answer is
kept with its time, so the figures say when ingest answered 202 again. A
background thread reads ``handoff.routed`` meanwhile, so they also say when the
first event was routed again. The API's database says what was projected.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.chaos.events import RULES, TEAMS
from bench.chaos.report import Row
from bench.chaos.tally import IdTally, RoutedTally, Tally
from schemas import topics
from services.kafka_admin import ensure_handoff_topics
from tests.integration.router_process import write_rules
from tests.processes import Platform, platform_env, running_platform

TICKETS = "/v1/sources/support/tickets"
IDLE_S = 60.0  # nothing routed for this long: what is missing is lost, not late
ACCOUNTS = 200  # the customers tickets come from


@contextmanager
def platform(bootstrap: str, home: Path, run: str) -> Iterator[Platform]:
    """The three services on ``bootstrap`` with the chaos rules and a SQLite database."""
    home.mkdir(parents=True, exist_ok=True)
    ensure_handoff_topics(bootstrap, TEAMS, partitions=4)
    env = platform_env(bootstrap, f"sqlite:///{home / f'{run}.db'}", home)
    rules = str(write_rules(home, RULES))
    env.update(HANDOFF_ROUTER_RULES_FILE=rules, HANDOFF_API_RULES_FILE=rules,
               HANDOFF_ROUTER_OFFSET_RESET="earliest")  # fmt: skip
    with running_platform(env, home) as started:
        yield started


@dataclass
class Traffic:
    """Threads posting tickets to ingest; every answer kept as (time, status, event id).

    ``rate`` caps the tickets a second over all threads; ``None`` posts without pause
    (``make chaos``). A short run paces its traffic so that the backlog left after
    the fault is seconds of routing, not minutes: the fault is the same either way.
    """

    url: str
    run: str
    threads: int = 4
    rate: float | None = None
    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Traffic:
        self._workers = [threading.Thread(target=self._post, daemon=True)
                         for _ in range(self.threads)]  # fmt: skip
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for worker in self._workers:
            worker.join(30)

    def _post(self) -> None:
        interval = self.threads / self.rate if self.rate else 0.0
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                self._answer(client)
                self.stop.wait(interval - (time.monotonic() - started))

    def _answer(self, client: httpx.Client) -> None:
        ticket_id = uuid.uuid4().hex[:12]
        ticket = {
            "ticket_id": f"{self.run}-{ticket_id}",
            "subject": f"{self.run} 請求書の画面",
            # Customers as a helpdesk has them, not one account that every ticket joins
            # (its open-task list would grow with the run: docs/chaos.md, "Traffic").
            "requester_email": f"taro@c{int(ticket_id[:4], 16) % ACCOUNTS}.{self.run[-8:]}.example",
        }
        try:
            response = client.post(TICKETS, json=ticket)
            status, accepted = response.status_code, None
            if status == 202:
                accepted = str(response.json()["id"])
        except httpx.HTTPError:
            status, accepted = 0, None  # no answer in time: counted as not accepted
        with self.lock:
            self.answers.append((time.monotonic(), status, accepted))
        if status != 202:
            time.sleep(0.2)  # as a client honouring Retry-After would, only sooner

    def first_accepted_after(self, moment: float, timeout: float) -> float | None:
        """Seconds from ``moment`` to the first 202 after it (waiting up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                after = [at for at, status, _ in self.answers if status == 202 and at > moment]
            if after:
                return min(after) - moment
            time.sleep(0.1)
        return None

    def accepted(self) -> set[str]:
        with self.lock:
            return {event_id for _, _, event_id in self.answers if event_id}

    def statuses(self) -> set[int]:
        with self.lock:
            return {status for _, status, _ in self.answers}


class Watch:
    """Reads handoff.routed in a thread while traffic runs.

    When the router routed each record is the record's own timestamp (set as the
    router produced it), not when this reader, which reconnects too, got it.
    """

    def __init__(self, bootstrap: str, run: str) -> None:
        self.routed = RoutedTally(bootstrap, run)
        self.dead = Tally(bootstrap, topics.DLQ, run)
        self.ingested = IdTally(bootstrap, topics.INGEST_SUPPORT, run)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            self.routed.poll(0.2)

    def first_routed_after(self, moment: float, timeout: float) -> float | None:
        """Seconds from ``moment`` (monotonic) to the first record routed after it."""
        wall = time.time() - (time.monotonic() - moment)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if after := [at for at in list(self.routed.stamps) if at > wall]:
                return min(after) - wall
            time.sleep(0.1)
        return None

    def finish(self, row: Row, accepted: set[str], timeout_s: float = 900) -> None:
        """Stop watching, wait for every accepted event to be routed; count into ``row``."""
        self._stop.set()
        self._thread.join(10)
        self.routed.wait_for(accepted, timeout_s, idle_s=IDLE_S)
        self.dead.poll(1.0)
        row.accepted, row.routed = len(accepted), len(accepted & self.routed.tasks.keys())
        row.lost, row.duplicated = row.accepted - row.routed, self.routed.duplicated()
        row.dlq = self.dead.records
        self.ingested.drain()
        if row.lost:  # where they went missing: never written by ingest, or never routed
            unwritten = len(accepted - self.ingested.ids)
            row.problems.append(f"of {row.lost} lost, {unwritten} never on the ingest topic")
        for tally in (self.routed, self.dead, self.ingested):
            tally.close()


def projected(database_url: str, run: str) -> int:
    """Tasks of the run in the API's database (one per ticket: the chaos rules do not group)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT count(*) FROM tasks WHERE subject LIKE :run")
            return int(conn.execute(query, {"run": f"{run}%"}).scalar_one())
    finally:
        engine.dispose()


def first_projected_after(
    database_url: str, run: str, moment: float, timeout: float
) -> float | None:
    """Seconds from ``moment`` (monotonic) to the first task of the run projected after it.

    The API stamps ``projected_at`` (UTC) as it writes a task; the figure says when the
    projector wrote again, whenever this reader looked. The platform's database is
    SQLite (:func:`platform`), whose rows hold the time as text.
    """
    wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - moment)
    engine = sa.create_engine(database_url)
    query = sa.text("SELECT min(projected_at) FROM tasks WHERE subject LIKE :run"
                    " AND projected_at > :wall")  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                first = conn.execute(query, {"run": f"{run}%", "wall": _utc_text(wall)}).scalar()
            if first is not None:
                return (_as_utc(first) - wall).total_seconds()
            time.sleep(0.2)
        return None
    finally:
        engine.dispose()


def _utc_text(moment: datetime) -> str:
    """As the API's SQLite rows hold a time (naive UTC, ISO with a space)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def wait_projected(database_url: str, run: str, count: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while (found := projected(database_url, run)) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return found
