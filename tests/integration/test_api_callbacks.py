"""Several API processes deliver from one database: each delivery reaches the origin once.

Two deliverers (each with its own engine, as two API replicas would have)
race over the same due deliveries on SQLite and PostgreSQL, posting to a
real HTTP receiver; a delivery claimed by a process that died is retried by
the other once its lease runs out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.callbacks import Deliverer, DeliveryPolicy, schedule_delivery
from services.api.db import TASKS, Callback, Delivery, DeliveryAttempt, Task, make_engine, upgrade
from services.api.projector import KafkaDeadLetters
from services.kafka_admin import ensure_handoff_topics
from tests.processes import wait_for
from tests.receivers import Origin

SOURCE = "/zendesk/acme"
SECRET = "integration-secret-0123456789"


class CrashError(Exception):
    """The process died mid-attempt."""


def task_row(n: int, now: datetime) -> dict[str, Any]:
    return {
        "task_id": f"t-{n}",
        "source_event_id": f"zd-{n}",
        "source": SOURCE,
        "team": "billing-ui",
        "rule": "component:billing-ui",
        "account": "example.co.jp",
        "priority": "high",
        "component": "billing-ui",
        "subject": "s",
        "description": "d",
        "requester_email": "taro@example.co.jp",
        "state": "acknowledged",
        "raised_at": now - timedelta(minutes=5),
        "routed_at": now - timedelta(minutes=4),
        "sla_due": now + timedelta(hours=4),
        "projected_at": now,
        "version": 2,
        "updated_at": now,
    }


@pytest.fixture
def dead_letters(kafka_bootstrap: str) -> Iterator[KafkaDeadLetters]:
    """The real dead-letter topic (no delivery here should need it)."""
    ensure_handoff_topics(kafka_bootstrap, [], 4)
    parked = KafkaDeadLetters(kafka_bootstrap)
    yield parked
    parked.close()


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """Two engines on one migrated database: two API processes' worth of connections."""
    upgrade(database_url)
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def owe(engine: sa.Engine, url: str, count: int) -> list[str]:
    """Acknowledged tasks whose source registered ``url``: one due delivery each."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.execute(TASKS.insert(), [task_row(n, now) for n in range(count)])
        session.add(Callback(source=SOURCE, url=url, secret=SECRET, format="generic",
                             created_at=now))  # fmt: skip
        session.flush()
        ids: list[str] = []
        for task in session.scalars(sa.select(Task).order_by(Task.task_id)):
            ids += schedule_delivery(
                session, task, event_id=f"ack-{task.task_id}", state="acknowledged",
                message="", now=now, event_type="task.acknowledged",
            )  # fmt: skip
    return ids


def delivered(engine: sa.Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.scalars(sa.select(Delivery.state)))


def attempt_log(engine: sa.Engine) -> list[tuple[str, int, int | None]]:
    with Session(engine) as session:
        rows = session.scalars(sa.select(DeliveryAttempt))
        return sorted((a.delivery_id, a.attempt, a.status_code) for a in rows)


def test_two_deliverers_racing_post_every_delivery_exactly_once(
    engines: tuple[sa.Engine, sa.Engine], dead_letters: KafkaDeadLetters
) -> None:
    origin = Origin(200)
    policy = DeliveryPolicy(timeout_s=5, poll_interval_s=0.01)
    deliverers = [Deliverer(e, policy, dead_letters=dead_letters) for e in engines]
    try:
        ids = owe(engines[0], origin.url, 50)
        for d in deliverers:
            d.start()
        wait_for("50 delivered", lambda: delivered(engines[0]) == {"delivered": 50})
        time.sleep(0.2)  # nothing more may arrive
    finally:
        for d in deliverers:
            d.stop()
        origin.close()

    keys = Counter(headers["Idempotency-Key"] for _, headers, _, _ in origin.calls)
    assert sorted(keys) == sorted(ids)
    assert set(keys.values()) == {1}
    assert {headers["X-Handoff-Delivery-Attempt"] for _, headers, _, _ in origin.calls} == {"1"}
    assert attempt_log(engines[0]) == sorted((i, 1, 200) for i in ids)


def test_a_delivery_claimed_by_a_process_that_died_is_retried_after_its_lease(
    engines: tuple[sa.Engine, sa.Engine], dead_letters: KafkaDeadLetters
) -> None:
    origin = Origin(200)
    policy = DeliveryPolicy(timeout_s=0.2, lease_margin_s=0.4, poll_interval_s=0.02)

    def die(*args: Any) -> int:
        raise CrashError

    dying = Deliverer(engines[0], policy, dead_letters=dead_letters, post=die)
    survivor = Deliverer(engines[1], policy, dead_letters=dead_letters)
    try:
        [delivery_id] = owe(engines[0], origin.url, 1)
        with pytest.raises(CrashError):
            dying.run_once()
        claimed_at = time.monotonic()
        survivor.start()
        wait_for("the retry", lambda: delivered(engines[1]) == {"delivered": 1})
        waited = time.monotonic() - claimed_at
    finally:
        survivor.stop()
        origin.close()

    assert waited >= policy.lease_s - 0.1  # not before the lease ran out
    [(_, headers, _, _)] = origin.calls
    assert headers["Idempotency-Key"] == delivery_id
    assert headers["X-Handoff-Delivery-Attempt"] == "2"
    assert attempt_log(engines[1]) == [(delivery_id, 2, 200)]
