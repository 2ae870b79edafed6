"""The figures from rollups agree with an exact computation over the task rows.

Random tasks (random latencies over five orders of magnitude, every state) are
written as the projector writes them, rollups alongside; then each percentile
the API reports is within 2 % of the exact nearest-rank value computed from the
rows, every count is exact, and a rebuild from the rows gives the same figures.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.api import figures as read
from services.api.db import insert_task_if_absent, make_engine, upgrade
from services.api.rollups import rebuild, tallied
from services.core.stats import LatencySummary, summarize

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOURCES = {"/sources/zendesk": "support", "/sources/salesforce": "sales"}


def random_task(n: int, rng: random.Random) -> dict[str, Any]:
    raised = T0 + timedelta(minutes=7 * n)
    state = rng.choice(["open", "acknowledged", "resolved", "resolved", "rejected"])
    closed = raised + timedelta(seconds=rng.lognormvariate(7, 2))
    return {
        "task_id": f"t-{n}", "source_event_id": f"e-{n}", "source": rng.choice(list(SOURCES)),
        "team": rng.choice(["billing", "planning"]), "rule": "r", "account": "a.example",
        "priority": "high", "component": None, "subject": "s", "description": "",
        "requester_email": "a@a.example", "state": state, "raised_at": raised,
        "routed_at": raised + timedelta(seconds=rng.uniform(0, 5)),
        "sla_due": raised + timedelta(hours=2), "projected_at": raised,
        "resolved_at": closed if state in ("resolved", "rejected") else None,
        "resolution": None, "feedback_latency_s": None, "version": 1, "department": None,
        "updated_at": raised, "acknowledged_at": raised + timedelta(seconds=rng.uniform(1, 9000))
        if state != "open" else None,
        "answered_by": rng.choice(["team", "team", "router"]) if state == "resolved" else None,
    }  # fmt: skip


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def store(conn: sa.Connection, row: dict[str, Any]) -> None:
    """As the projector stores a task: the row and its rollups in one transaction."""
    tallied(conn, [row["task_id"]], lambda: insert_task_if_absent(conn, row))


def within(found: LatencySummary, exact: LatencySummary) -> None:
    assert found.count == exact.count
    for got, want in ((found.p50, exact.p50), (found.p90, exact.p90), (found.p99, exact.p99),
                      (found.max, exact.max)):  # fmt: skip
        assert got is not None
        assert want is not None
        assert abs(got - want) <= 0.02 * want, (got, want)


def test_percentiles_from_rollups_are_within_2_percent_of_exact(engine: sa.Engine) -> None:
    rng = random.Random(12)
    tasks = [random_task(n, rng) for n in range(400)]
    for row in tasks:
        with engine.begin() as conn:
            store(conn, row)
    exact: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for t in tasks:
        if t["state"] == "resolved":
            key = (SOURCES[t["source"]], t["team"], t["answered_by"])
            exact[key].append((t["resolved_at"] - t["raised_at"]).total_seconds())
    with engine.connect() as conn:
        found = {(f.department, f.team, f.answered_by): f for f in read.figures(conn, now=T0)}
    assert sorted(k for k, f in found.items() if f.feedback_latency.count) == sorted(exact)
    for key, values in exact.items():
        within(found[key].feedback_latency, summarize(values))
        within(found[key].time_to_resolve, summarize(values))
    with engine.begin() as conn:
        rebuild(conn)
    with engine.connect() as conn:
        again = {(f.department, f.team, f.answered_by): f for f in read.figures(conn, now=T0)}
    assert rounded(again) == rounded(found)  # the sums of floats may differ in the last digits


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return tuple(rounded(getattr(value, name)) for name in value.__dataclass_fields__)
    return value
