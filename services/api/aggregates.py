"""Latency summaries computed by PostgreSQL (percentile_disc = core.stats' nearest rank).

On PostgreSQL the figures and the feedback-latency stats are aggregated in
the database, so a read over 100,000 tasks moves a few rows, not all of
them; other dialects (SQLite) aggregate in Python (``services.api.figures``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.api.figures import Figures
from services.core.stats import LatencySummary


def _summary(count: Any, quantiles: Any, maximum: Any) -> LatencySummary:
    if not count or quantiles is None:
        return LatencySummary(0, None, None, None, None)
    p50, p90, p99 = (float(q) for q in quantiles)
    return LatencySummary(int(count), p50, p90, p99, float(maximum))


def _aggregate(expr: str) -> str:
    return (
        f"count({expr}), percentile_disc(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY {expr}), "
        f"max({expr})"
    )


ROUTE = "greatest(0, extract(epoch FROM routed_at - raised_at))::float8"
# greatest() skips NULLs (greatest(0, NULL) is 0): guard the optional times with CASE.
ACK = (
    "CASE WHEN acknowledged_at IS NOT NULL "
    "THEN greatest(0, extract(epoch FROM acknowledged_at - raised_at))::float8 END"
)
RESOLVE = (
    "CASE WHEN state = 'resolved' AND resolved_at IS NOT NULL "
    "THEN greatest(0, extract(epoch FROM resolved_at - raised_at))::float8 END"
)
DUE = "(sla_due <= :now OR state IN ('resolved', 'rejected'))"


def _where(filters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    clauses, params = ["TRUE"], {}
    for name, column, op in (
        ("since", "raised_at", ">="),
        ("until", "raised_at", "<"),
        ("team", "team", "="),
        ("department", "department", "="),
    ):
        if filters.get(name) is not None:
            clauses.append(f"{column} {op} :{name}")
            params[name] = filters[name]
    return " AND ".join(clauses), params


FIGURES_COLUMNS = (
    f"coalesce(department, 'unknown') AS dept, team, count(*) AS tasks, "
    f"{_aggregate('feedback_latency_s')}, {_aggregate(ROUTE)}, {_aggregate(ACK)}, "
    f"{_aggregate(RESOLVE)}, "
    f"count(*) FILTER (WHERE {DUE}) AS due, "
    f"count(*) FILTER (WHERE {DUE} AND acknowledged_at <= sla_due) AS acked, "
    f"count(*) FILTER (WHERE {DUE} AND state = 'resolved' AND resolved_at <= sla_due) "
    f"AS solved"
)


def figures_sql(
    conn: sa.Connection,
    *,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
    team: str | None,
    department: str | None,
) -> list[Figures]:
    where, params = _where({"since": since, "until": until, "team": team, "department": department})
    query = sa.text(
        f"SELECT {FIGURES_COLUMNS} "  # noqa: S608 - fixed SQL
        f"FROM tasks WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [_figures(tuple(row)) for row in conn.execute(query, {**params, "now": now})]


def _figures(r: tuple[Any, ...]) -> Figures:
    """One row of ``FIGURES_COLUMNS`` as the figures of a department's team."""
    due, acked, solved = r[15], r[16], r[17]
    return Figures(
        department=r[0],
        team=r[1],
        tasks=int(r[2]),
        feedback_latency=_summary(*r[3:6]),
        time_to_route=_summary(*r[6:9]),
        time_to_acknowledge=_summary(*r[9:12]),
        time_to_resolve=_summary(*r[12:15]),
        acknowledged_in_time=acked / due if due else None,
        resolved_in_time=solved / due if due else None,
    )


def _resolved_where(team: str | None, since: datetime | None) -> tuple[str, dict[str, Any]]:
    clauses = ["state = 'resolved'", "feedback_latency_s IS NOT NULL"]
    params: dict[str, Any] = {}
    if team is not None:
        clauses.append("team = :team")
        params["team"] = team
    if since is not None:
        clauses.append("resolved_at >= :since")
        params["since"] = since
    return " AND ".join(clauses), params


def feedback_latency_sql(
    conn: sa.Connection, *, team: str | None, since: datetime | None
) -> tuple[LatencySummary, dict[str, LatencySummary]]:
    where, params = _resolved_where(team, since)
    agg = _aggregate("feedback_latency_s")
    by_team = {
        row[0]: _summary(*tuple(row)[1:])
        for row in conn.execute(
            sa.text(f"SELECT team, {agg} FROM tasks WHERE {where} GROUP BY team ORDER BY team"),  # noqa: S608
            params,
        )
    }
    overall_row = conn.execute(sa.text(f"SELECT {agg} FROM tasks WHERE {where}"), params).one()  # noqa: S608
    return _summary(*tuple(overall_row)), by_team
