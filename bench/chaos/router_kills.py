"""Scenario 1: router workers ``kill -9``-ed during a stream; nothing lost, nothing routed twice.

Two workers share one consumer group. Before each kill a chunk of the stream is
produced, so the dead worker leaves a backlog. Per kill: the takeover (until the
survivor owns every partition), and until a probe on every partition of both
ingest topics is routed (the backlog worked through, the tables restored). The
dead worker is started again on its own data folder as soon as the survivor owns
its partitions (as a supervisor would restart it), and must be ready before the
next kill, so two workers share the group at every kill.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kafka import KafkaConsumer, KafkaProducer

from bench.chaos.events import RULES, TEAMS, Event, probe, stream
from bench.chaos.report import Row
from bench.chaos.tally import RoutedTally, Tally
from schemas import topics
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from tests.integration.router_process import Producer, router_env, unique, write_rules
from tests.processes import Service, spawn, start_group_at_end, stop, wait_healthy

INGEST_TOPICS = (topics.INGEST_SUPPORT, topics.INGEST_SALES)
TAKEOVER_BOUND_S = 120.0  # waiting longer than this: recorded as this
STACKS_AFTER_S = 30.0  # probes not routed by then: every worker's stacks into its log
PARTITIONS = 4


@dataclass
class Workers:
    """Two workers of one group, each with its own data folder and port."""

    envs: list[dict[str, str]]
    home: Path
    running: dict[int, Service] = field(default_factory=dict)

    def start(self, n: int) -> float:
        """Start worker ``n``; seconds until its /readyz says it routes."""
        return self.ready(n, self.spawn(n))

    def spawn(self, n: int) -> float:
        """Start worker ``n`` without waiting for it; when it was started (monotonic)."""
        started = time.monotonic()
        env = self.envs[n]
        url = f"http://127.0.0.1:{env['HANDOFF_ROUTER_WEB_PORT']}"
        log = f"router-{n}-{len(self.running)}-{int(started)}"  # one log per start
        self.running[n] = spawn("router", url, env, self.home, log_name=log)
        return started

    def ready(self, n: int, started: float) -> float:
        """Wait for worker ``n``'s /readyz; seconds since it was ``started``."""
        wait_healthy(self.running[n], timeout=120, path="/readyz")
        return time.monotonic() - started

    def kill(self, n: int) -> None:
        os.kill(self.running[n].proc.pid, signal.SIGKILL)
        self.running[n].proc.wait()

    def stop_all(self) -> None:
        for worker in self.running.values():
            stop(worker.proc)


def workers_for(bootstrap: str, home: Path) -> Workers:
    """Two workers of a new group that starts where the ingest topics end now.

    Committed offsets, not ``auto.offset.reset=latest``: its internal topics are new
    and read from their start, and no event produced after this is skipped.
    """
    env = router_env(bootstrap, home, rules=write_rules(home, RULES))
    ensure_handoff_topics(bootstrap, TEAMS, partitions=PARTITIONS)
    for topic in INGEST_TOPICS:
        start_group_at_end(bootstrap, env["HANDOFF_ROUTER_APP_ID"], topic)
    envs = [{**env, "HANDOFF_ROUTER_DATA_DIR": str(home / f"data-{n}"),
             "HANDOFF_ROUTER_WEB_PORT": str(free_port())} for n in (0, 1)]  # fmt: skip
    return Workers(envs, home)


def run(bootstrap: str, home: Path, events: int = 20_000, kills: int = 10) -> Row:
    """Stream ``events`` through two workers, killing one ``kills`` times; the figures."""
    workers = workers_for(bootstrap, home)
    try:
        for n in (0, 1):
            workers.start(n)
        return _stream_with_kills(bootstrap, workers, events, kills)
    finally:
        workers.stop_all()


def _stream_with_kills(bootstrap: str, workers: Workers, events: int, kills: int) -> Row:
    run_id = unique("chaos-router")
    made = list(stream(run_id, events))
    chunks = [made[i :: kills + 1] for i in range(kills + 1)]
    row = Row("1 router kill -9", sent=events)
    where: dict[str, str] = {}  # event id -> where the broker put it
    routed, dead = RoutedTally(bootstrap, run_id), Tally(bootstrap, topics.DLQ, run_id)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    try:
        resumed, restarts = [], []
        for kill in range(kills):
            row.accepted += _send(producer, chunks[kill], where)
            workers.kill(kill % 2)
            killed_at = time.monotonic()
            row.recovery.append(_taken_over(workers.running[1 - kill % 2], killed_at))
            # restarted at once, as a supervisor would: it rejoins while the survivor
            # works through the backlog, so "routing again" includes that rebalance too
            restarted = workers.spawn(kill % 2)
            probes = f"{run_id}-probe{kill}"
            resumed.append(_routing_again(bootstrap, workers, routed, probes, killed_at))
            restarts.append(workers.ready(kill % 2, restarted))
        row.accepted += _send(producer, chunks[kills], where)
        _settle(row, routed, dead, where)
    finally:
        producer.close()
        routed.close()
        dead.close()
    row.notes = [
        f"recovery = kill to survivor owning every partition; every partition "
        f"routing again max {max(resumed):.1f}s; restart to ready max {max(restarts):.1f}s"
    ]
    row.resumed = resumed
    return row


def _taken_over(survivor: Service, killed_at: float) -> float:
    """Seconds from the kill until the survivor's /readyz lists every partition as its own."""
    deadline = killed_at + TAKEOVER_BOUND_S
    while time.monotonic() < deadline:
        try:
            body = httpx.get(survivor.url + "/readyz", timeout=2).json()
            if set(body.get("assigned_partitions") or []) >= set(range(PARTITIONS)):
                return time.monotonic() - killed_at
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    return TAKEOVER_BOUND_S


def _send(producer: KafkaProducer, events: list[Event], where: dict[str, str]) -> int:
    """Produce ``events`` (acks=all); how many the broker acknowledged. ``where`` notes
    each one's topic, partition and offset (what a lost event's report names)."""
    futures = [producer.send(e.topic, key=e.key, value=e.value) for e in events]
    producer.flush(timeout=120)
    acked = [(event, future.value) for event, future in zip(events, futures, strict=True)
             if future.succeeded()]  # fmt: skip
    where.update({e.event_id: f"{m.topic}[{m.partition}]@{m.offset}" for e, m in acked})
    return len(acked)


def _routing_again(
    bootstrap: str, workers: Workers, routed: RoutedTally, prefix: str, killed_at: float
) -> float:
    """Seconds from the kill until a probe on every ingest partition is routed."""
    producer = Producer(bootstrap)
    try:
        slots = [(t, p) for t in INGEST_TOPICS for p in _partition_numbers(bootstrap, t)]
        ids = {_probe(producer, topic, partition, prefix) for topic, partition in slots}
    finally:
        producer.close()
    if not routed.wait_for(ids, STACKS_AFTER_S):
        _ask_for_stacks(workers, sorted(ids - routed.tasks.keys()))
        routed.wait_for(ids, TAKEOVER_BOUND_S - STACKS_AFTER_S)
    return time.monotonic() - killed_at


def _ask_for_stacks(workers: Workers, missing: list[str]) -> None:
    """A partition that does not route again: each worker writes where every one of its
    tasks and threads is into its log (SIGUSR1: the stacks, by Faust's worker, ``mode``)."""
    print(f"\nnot routed {STACKS_AFTER_S:.0f} s after the probes: {missing}; stacks asked of "
          f"every worker into its log", flush=True)  # fmt: skip
    for worker in workers.running.values():
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGUSR1)


def _probe(producer: Producer, topic: str, partition: int, prefix: str) -> str:
    event_id = f"{prefix}-{topic}-{partition}"
    value = probe(event_id) if topic == topics.INGEST_SUPPORT else _sales_probe(event_id)
    producer.send_to(topic, partition, event_id.encode(), value)
    return event_id


def _sales_probe(event_id: str) -> bytes:
    from tests.integration.router_process import sales_event

    return sales_event(event_id, intent="quote_request")


def _partition_numbers(bootstrap: str, topic: str) -> list[int]:
    reader = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return sorted(reader.partitions_for_topic(topic) or [])
    finally:
        reader.close()


def _settle(row: Row, routed: RoutedTally, dead: Tally, where: dict[str, str]) -> None:
    """Wait for the whole stream to be routed (or the bound to pass); count the outcome,
    and name each lost event: where it was, and whether a later task.routed listed it
    (then its task holds it, but its own record never came)."""
    ids = set(where)
    routed.wait_for(ids, timeout_s=900, idle_s=60)  # lost, not late: nothing came for 60 s
    dead.poll(1.0)
    row.routed = len(ids & routed.tasks.keys())
    row.lost = row.accepted - row.routed
    row.duplicated = routed.duplicated()
    row.dlq = dead.records
    for event_id in sorted(ids - routed.tasks.keys())[:20]:
        listed = "listed by a later task.routed" if event_id in routed.listed else "never listed"
        row.problems.append(f"lost {event_id} at {where[event_id]}: {listed}")
