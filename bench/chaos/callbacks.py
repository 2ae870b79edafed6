"""Scenario 5: an origin down for the whole retry budget; parked, then retried by the operator.

Tasks whose source registered a callback owe it an update each. The origin's
port is closed for every attempt the budget allows, so each delivery is parked
(state ``dead``, the reason kept, a dead letter on ``handoff.dlq``). The origin
comes back; the operator runs ``handoff deliveries retry`` (a real CLI process)
and each delivery reaches the origin exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.chaos.receiver import Receiver
from bench.chaos.report import Row
from bench.chaos.tally import Letters
from services.api.callbacks import Deliverer, DeliveryPolicy, schedule_delivery
from services.api.db import TASKS, Callback, Delivery, Task, make_engine, upgrade
from services.api.projector import KafkaDeadLetters
from services.kafka_admin import ensure_handoff_topics
from services.local.kafka import free_port
from tests.integration.router_process import unique

SOURCE_PREFIX = "/sources/chaos"
SECRET = "chaos-callback-secret-0123456789"
IDLE_S = 60.0  # no attempt made for this long: the deliverer is stuck, not slow
PARK_BOUND_S = 1200.0


def run(bootstrap: str, home: Path, deliveries: int = 500, attempts: int = 6) -> Row:
    """``deliveries`` updates owed to an origin that is down for ``attempts`` attempts each."""
    run_id = unique("chaos-callback")
    source = f"{SOURCE_PREFIX}/{run_id}"
    database_url = f"sqlite:///{home / f'{run_id}.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    receiver = Receiver(free_port())
    ensure_handoff_topics(bootstrap, [], 4)
    letters, dead = KafkaDeadLetters(bootstrap), Letters(bootstrap, run_id)
    policy = DeliveryPolicy(max_attempts=attempts, backoff_initial_s=0.05, backoff_max_s=0.5,
                            timeout_s=2, poll_interval_s=0.05)  # fmt: skip
    deliverer = Deliverer(engine, policy, dead_letters=letters)
    row = Row(f"5 callback origin down x{attempts} attempts", sent=deliveries)
    try:
        ids = owe(engine, source, receiver.url, deliveries, run_id)
        deliverer.start()
        _parked(row, engine, ids, dead)
        receiver.start()
        _retried(row, engine, database_url, source, receiver, ids)
        dead.poll(1.0)  # a second letter for one delivery would be here by now
        row.dlq = dead.records
        row.problems.extend(dead.problems(ids))
    finally:
        deliverer.stop()
        receiver.close()
        letters.close()
        dead.close()
        engine.dispose()
    return row


def owe(engine: sa.Engine, source: str, url: str, count: int, run_id: str) -> list[str]:
    """Acknowledged tasks of ``source``, whose callback is ``url``: one due delivery each."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.execute(TASKS.insert(), [_task(run_id, source, n, now) for n in range(count)])
        session.add(Callback(source=source, url=url, secret=SECRET, format="generic",
                             created_at=now))  # fmt: skip
        session.flush()
        ids: list[str] = []
        for task in session.scalars(sa.select(Task).where(Task.source == source)):
            ids += schedule_delivery(
                session, task, event_id=f"ack-{task.task_id}", state="acknowledged",
                message=run_id, now=now, event_type="task.acknowledged",
            )  # fmt: skip
    return ids


def _task(run_id: str, source: str, n: int, now: datetime) -> dict[str, Any]:
    return {
        "task_id": f"{run_id}-{n}", "source_event_id": f"{run_id}-e{n}", "source": source,
        "team": "chaos-triage", "rule": "chaos", "account": f"{run_id}.example",
        "priority": "normal", "component": None, "subject": run_id, "description": "",
        "requester_email": "taro@example.co.jp", "state": "acknowledged",
        "raised_at": now - timedelta(minutes=5), "routed_at": now - timedelta(minutes=4),
        "sla_due": now + timedelta(hours=4), "projected_at": now, "version": 2, "updated_at": now,
    }  # fmt: skip


def states(engine: sa.Engine, ids: list[str]) -> Counter[str]:
    with Session(engine) as session:
        query = sa.select(Delivery.state).where(Delivery.delivery_id.in_(ids))
        return Counter(session.scalars(query))


def _parked(row: Row, engine: sa.Engine, ids: list[str], dead: Letters) -> None:
    """Wait until every delivery is parked; each keeps its reason and has exactly one letter.

    Parking takes every attempt of every delivery, so the wait is on progress (attempts
    made), not on a clock: a loaded machine is slow, not wrong.
    """
    every_one, started = len(ids), time.monotonic()
    _wait_progress(
        lambda: attempts_made(engine, ids), lambda: states(engine, ids)["dead"] == every_one
    )
    row.accepted = parked_with_reason(engine, ids)
    row.notes.append(f"every attempt spent and parked in {time.monotonic() - started:.0f}s")
    _wait_progress(dead.poll_count, lambda: dead.for_ids(ids) == set(ids), idle_s=30.0)
    row.dlq = dead.records
    row.notes.append("accepted = parked with a reason; DLQ = its letters; "
                     "routed = redelivered after the retry")  # fmt: skip
    if row.accepted != len(ids):
        row.problems.append(f"parked with a reason: {row.accepted} of {len(ids)}")


def attempts_made(engine: sa.Engine, ids: list[str]) -> int:
    """Attempts made so far over ``ids`` (progress while the budget is spent)."""
    with Session(engine) as session:
        query = sa.select(sa.func.sum(Delivery.attempts)).where(Delivery.delivery_id.in_(ids))
        return int(session.scalar(query) or 0)


def parked_with_reason(engine: sa.Engine, ids: list[str]) -> int:
    """Deliveries parked (state ``dead``) that keep why (their last error)."""
    with Session(engine) as session:
        query = sa.select(Delivery.last_error).where(
            Delivery.delivery_id.in_(ids), Delivery.state == "dead"
        )
        return sum(1 for reason in session.scalars(query) if reason)


def _retried(row: Row, engine: sa.Engine, database_url: str, source: str,
             receiver: Receiver, ids: list[str]) -> None:  # fmt: skip
    """The operator retries every parked delivery of the source; each arrives once."""
    started = time.monotonic()
    retry = subprocess.run(
        [sys.executable, "-m", "services.cli", "deliveries", "retry", "--source", source],
        env={**_without_handoff(os.environ), "HANDOFF_DATABASE_URL": database_url},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if retry.returncode != 0:
        row.problems.append(f"handoff deliveries retry: {retry.stderr[-300:]}")

    def delivered() -> int:
        return states(engine, ids)["delivered"]

    if not _wait_progress(delivered, lambda: delivered() == len(ids)):
        row.problems.append(f"delivered after the retry: {delivered()} of {len(ids)}")
    row.recovery.append(time.monotonic() - started)
    time.sleep(0.5)  # nothing more may arrive
    row.routed = len(set(ids) & receiver.keys.keys())
    row.lost = len(ids) - row.routed
    row.duplicated = sum(1 for key in ids if receiver.keys[key] > 1)


def _wait_progress(
    progress: Callable[[], int], done: Callable[[], bool], idle_s: float = IDLE_S
) -> bool:
    """Wait until ``done``; give up once ``progress`` stood still for ``idle_s`` (or at
    ``PARK_BOUND_S``)."""
    deadline = time.monotonic() + PARK_BOUND_S
    last, seen = time.monotonic(), -1
    while not done():
        now = time.monotonic()
        if (current := progress()) != seen:
            last, seen = now, current
        if now > deadline or now - last > idle_s:
            return False
        time.sleep(0.2)
    return True


def _without_handoff(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("HANDOFF_")}
