"""``make chaos``: the six fault scenarios at full size, one table row each (docs/chaos.md).

Every part is started here on 127.0.0.1 free ports under a temporary folder:
a broker for scenarios 1, 4, 5 and 6, a broker of its own for scenario 2
(it is stopped), a three-broker cluster for 3, PostgreSQL for 4 and 6. Rows
print as scenarios finish; the whole table at the end. Exit status 1 when a
scenario lost, duplicated or failed to recover.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.chaos import api_kills, broker_faults, callbacks, hostile, router_kills
from bench.chaos.report import Row, table
from services.local.kafka import LocalKafka, free_port
from services.local.kafka_cluster import local_cluster
from services.local.postgres import LocalPostgres

Scenario = Callable[[str, Path], list[Row]]


def broker(home: Path) -> LocalKafka:
    return LocalKafka(home=home, port=free_port(), controller_port=free_port())


def router(bootstrap: str, home: Path) -> list[Row]:
    return [router_kills.run(bootstrap, home, events=20_000, kills=10)]


def outages(_: str, home: Path) -> list[Row]:
    """A broker of its own, stopped gracefully for 20 s, then killed for 30 s."""
    own = broker(home / "kafka")
    own.up(timeout=120)
    try:
        return [broker_faults.broker_outage(own, home / "stop", "stop", outage_s=20),
                broker_faults.broker_outage(own, home / "kill", "kill", outage_s=30)]  # fmt: skip
    finally:
        own.down()


def cluster(_: str, home: Path) -> list[Row]:
    three = local_cluster(home / "cluster", size=3)
    three.up(timeout=120)
    try:
        return [broker_faults.cluster_member_loss(three, home, stream_s=30)]
    finally:
        three.down()


def api(bootstrap: str, home: Path) -> list[Row]:
    return api_kills.run(bootstrap, home, events=10_000, kills=5, pg_events=2_000)


def callback(bootstrap: str, home: Path) -> list[Row]:
    return [callbacks.run(bootstrap, home, deliveries=500, attempts=6)]


def fuzz(bootstrap: str, home: Path) -> list[Row]:
    server = LocalPostgres(
        home=Path(tempfile.mkdtemp(prefix="handoff-chaos-pg-")), port=free_port()
    )
    try:
        return [hostile.run(bootstrap, server.start(), home, ingest_examples=15_000,
                            api_examples=100, scenarios=300)]  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)


SCENARIOS: dict[str, Scenario] = {
    "1": router, "2": outages, "3": cluster, "4": api, "5": callback, "6": fuzz,
}  # fmt: skip


def failed(row: Row) -> bool:
    return bool(row.problems or row.lost or row.duplicated)


def run(chosen: list[str], home: Path, took: dict[str, float]) -> list[Row]:
    """The chosen scenarios in order; each one's wall time into ``took``."""
    shared = broker(home / "kafka")
    bootstrap = shared.up(timeout=120)
    rows: list[Row] = []
    try:
        for name in chosen:
            started = time.monotonic()
            (home / name).mkdir()
            made = SCENARIOS[name](bootstrap, home / name)
            took[name] = time.monotonic() - started
            print(f"scenario {name}: {took[name]:.0f}s", flush=True)
            print(table(made), flush=True)
            rows += made
    finally:
        shared.down()
    return rows


def timings(took: dict[str, float], total: float) -> str:
    """The line under the table: the whole run's wall time, then each scenario's."""
    each = ", ".join(f"{name}: {seconds:.0f}s" for name, seconds in took.items())
    return f"total wall time: {total:.0f}s ({total / 60:.1f} min); per scenario: {each}"


def chosen_scenarios(argv: list[str] | None) -> list[str]:
    """The scenarios named on the command line; all of them when none is."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    # checked here, not by argparse's choices: with nargs="*" this Python checks the empty
    # list itself against them, and `make chaos` (no argument) failed with "invalid choice"
    parser.add_argument("scenarios", nargs="*", help=f"some of {', '.join(SCENARIOS)} (all)")
    chosen: list[str] = parser.parse_args(argv).scenarios or list(SCENARIOS)
    if unknown := [name for name in chosen if name not in SCENARIOS]:
        parser.error(f"no such scenario: {', '.join(unknown)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    chosen = chosen_scenarios(argv)
    home = Path(tempfile.mkdtemp(prefix="handoff-chaos-"))
    started, took = time.monotonic(), dict[str, float]()
    rows = run(chosen, home, took)
    total = time.monotonic() - started
    print(f"\nhandoff fault suite\n\n{table(rows)}\n\n{timings(took, total)}")
    if any(failed(row) for row in rows):
        print(f"\nlogs of every process: {home}")
        return 1
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
