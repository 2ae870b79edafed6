"""Scenarios 2 and 3: the broker goes away under HTTP traffic; every service recovers by itself.

2. One broker, stopped gracefully (SIGTERM) or killed (SIGKILL) for an outage,
   then started again: ingest answers 503 meanwhile and 202 again soon after,
   the router routes again, the API projects again, none restarted; every
   event ingest accepted (202) is routed and projected.
3. A three-broker KRaft cluster (replication factor 3, min.insync.replicas=2,
   acks=all): one broker killed mid-stream and left down; the stream goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bench.chaos.platform import Traffic, Watch, first_projected_after, platform, wait_projected
from bench.chaos.report import Row
from services.local.kafka import LocalKafka
from services.local.kafka_cluster import LocalKafkaCluster
from tests.integration.router_process import unique
from tests.processes import Platform

RECOVERY_BOUND_S = 60.0  # waiting longer than this for a 202 or a routed event: not recovered


def broker_outage(
    broker: LocalKafka, home: Path, how: str, outage_s: float = 15.0, rate: float | None = None
) -> Row:
    """Stop (``stop``) or kill (``kill``) the broker for ``outage_s`` under traffic.

    ``rate``: tickets a second (``None``: as fast as ingest answers).
    """
    run = unique(f"chaos-broker-{how}")
    row = Row(f"2 broker {'SIGTERM' if how == 'stop' else 'SIGKILL'} {outage_s:.0f}s")
    with platform(broker.bootstrap, home, run) as started:
        watch = Watch(broker.bootstrap, run)
        with Traffic(started.ingest.url, run, rate=rate) as traffic:
            _steady(traffic)
            broker.kill() if how == "kill" else broker.down()
            time.sleep(outage_s)
            broker.up(timeout=120)
            _recovered(row, started, traffic, watch, time.monotonic())
            time.sleep(3)  # traffic goes on after the recovery
        _settle(row, started, traffic, watch)
    return row


def cluster_member_loss(
    cluster: LocalKafkaCluster, home: Path, stream_s: float = 20.0, rate: float | None = None
) -> Row:
    """Kill one broker of three mid-stream and leave it down; the stream goes on."""
    run = unique("chaos-cluster")
    row = Row("3 cluster: 1 of 3 brokers SIGKILL")
    with platform(cluster.bootstrap, home, run) as started:
        watch = Watch(cluster.bootstrap, run)
        with Traffic(started.ingest.url, run, rate=rate) as traffic:
            _steady(traffic)
            cluster.node(2).kill()
            _recovered(row, started, traffic, watch, time.monotonic())
            time.sleep(stream_s)
        _settle(row, started, traffic, watch)
    return row


def _steady(traffic: Traffic) -> None:
    """Traffic flows (a first 202), then a few seconds of it before the fault."""
    if traffic.first_accepted_after(0.0, timeout=60) is None:
        raise RuntimeError("ingest accepted nothing before the fault")
    time.sleep(3)


def _recovered(row: Row, started: Platform, traffic: Traffic, watch: Watch, moment: float) -> None:
    """Seconds from ``moment`` to the first 202, routed event and projected task after it."""
    first_202 = traffic.first_accepted_after(moment, RECOVERY_BOUND_S)
    first_routed = watch.first_routed_after(moment, RECOVERY_BOUND_S)
    first_projected = first_projected_after(
        started.env["HANDOFF_DATABASE_URL"], watch.routed.run, moment, RECOVERY_BOUND_S
    )
    figures = (first_202, first_routed, first_projected)
    row.recovery = [RECOVERY_BOUND_S if f is None else f for f in figures]
    if None in figures:
        bound = f"{RECOVERY_BOUND_S:.0f}s"
        row.problems.append(f"no 202, routed event or projected task within {bound}")
    row.notes.append(f"first 202 {_s(first_202)}, first routed {_s(first_routed)}, "
                     f"first projected {_s(first_projected)}")  # fmt: skip


def _settle(row: Row, started: Platform, traffic: Traffic, watch: Watch) -> None:
    """Every accepted ticket routed and projected; the services ready; nobody restarted."""
    row.sent = len(traffic.answers)
    watch.finish(row, traffic.accepted())
    database_url = started.env["HANDOFF_DATABASE_URL"]
    found = wait_projected(database_url, watch.routed.run, row.routed)
    if found < row.routed:
        row.problems.append(f"projected {found} of {row.routed}")
    unready = [s.name for s in (started.ingest, started.router, started.api) if not _ready(s.url)]
    restarted = [s.name for s in (started.ingest, started.router, started.api)
                 if s.proc.poll() is not None]  # fmt: skip
    row.notes.append(f"statuses {sorted(traffic.statuses())}")
    if unready or restarted:
        row.problems.append(f"not ready: {unready}, exited: {restarted}")


def _ready(url: str, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=3).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f}s"
