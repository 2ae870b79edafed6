"""PostgreSQL's aggregates give exactly the figures the Python path computes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from services.api.aggregates import feedback_latency_sql, figures_sql
from services.api.db import TASKS, make_engine, upgrade
from services.api.figures import figures
from services.api.repository import SqlTaskRepository
from services.core.stats import summarize

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def task(n: int, rng: random.Random) -> dict[str, Any]:
    raised = T0 + timedelta(minutes=n)
    state = rng.choice(["open", "acknowledged", "in_progress", "resolved", "rejected"])
    acked = raised + timedelta(seconds=rng.randint(1, 9000)) if rng.random() < 0.6 else None
    closed = raised + timedelta(seconds=rng.randint(1, 20000))
    return {
        "task_id": f"t-{n}",
        "source_event_id": f"e-{n}",
        "source": "/sources/x",
        "team": rng.choice(["billing", "planning", "web"]),
        "rule": "r",
        "account": "a.example",
        "priority": "high",
        "component": None,
        "subject": "s",
        "description": "d",
        "requester_email": "a@a.example",
        "state": state,
        "raised_at": raised,
        "routed_at": raised + timedelta(seconds=rng.randint(0, 5)),
        "sla_due": raised + timedelta(hours=2),
        "projected_at": raised,
        "resolved_at": closed if state in ("resolved", "rejected") else None,
        "resolution": None,
        "feedback_latency_s": rng.uniform(1, 20000) if state == "resolved" else None,
        "version": 1,
        "department": rng.choice(["support", "sales", None]),
        "updated_at": raised,
        "acknowledged_at": acked,
        "feedback_delivered_at": None,
    }


def test_sql_and_python_figures_agree(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        rng = random.Random(7)
        with engine.begin() as conn:
            conn.execute(TASKS.insert(), [task(n, rng) for n in range(300)])
        now = T0 + timedelta(hours=3)
        repository = SqlTaskRepository(engine)
        for window in (
            {"since": None, "until": None, "team": None, "department": None},
            {"since": T0 + timedelta(minutes=50), "until": None, "team": "web", "department": None},
            {"since": None, "until": T0 + timedelta(hours=4), "team": None, "department": "sales"},
        ):
            with engine.connect() as conn:
                in_sql = figures_sql(conn, now=now, **window)
            in_python = figures(repository.figure_rows(**window), now)
            for a, b in zip(in_sql, in_python, strict=True):
                for field in a.__dataclass_fields__:
                    assert getattr(a, field) == getattr(b, field), (field, a.team, a.department)
            assert in_sql  # not vacuous
        with engine.connect() as conn:
            overall, by_team = feedback_latency_sql(conn, team=None, since=None)
        lists = repository.feedback_latencies()
        assert by_team == {team: summarize(values) for team, values in lists.items()}
        assert overall == summarize([v for values in lists.values() for v in values])
        with engine.connect() as conn:
            empty, none = feedback_latency_sql(conn, team="nobody", since=None)
        assert (empty.count, none) == (0, {})
    finally:
        engine.dispose()
