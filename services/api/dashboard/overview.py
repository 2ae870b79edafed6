"""The overview's figures: who waits on whom, SLA standing, and the charts' series.

Built from the very functions ``/v1/stats/*`` and ``/v1/teams`` answer with,
called as the same principal, so the page and the API cannot disagree; the
charts and the SLA standing from the rollups and the active tasks' index
(``services.api.figures``), never from a scan of the tasks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from services.api import deadlines, figures
from services.api.auth import Principal
from services.api.dashboard import series as timeseries
from services.api.db import reading
from services.api.deps import ApiContext
from services.api.payloads.stats import FiguresOut, WaitingOut


@dataclass(frozen=True)
class Cell:
    """One asking department x answering team: open requests and latencies."""

    open: int = 0
    open_requests: int = 0
    p50_s: float | None = None
    p90_s: float | None = None
    resolved_in_time: float | None = None

    @property
    def tone(self) -> str:
        """How far over budget: by the share resolved within the SLA deadline."""
        share = self.resolved_in_time
        if share is None:
            return "none"
        return "ok" if share >= 0.95 else "warn" if share >= 0.8 else "bad"


@dataclass(frozen=True)
class Matrix:
    departments: list[str]
    teams: list[str]
    cells: dict[tuple[str, str], Cell]

    def cell(self, department: str, team: str) -> Cell | None:
        return self.cells.get((department, team))


@dataclass(frozen=True)
class Standing:
    """One team's SLA standing: open, at risk (due within the hour), breached."""

    team: str
    open: int
    at_risk: int
    breached: int
    acknowledged_in_time: float | None = None
    resolved_in_time: float | None = None


@dataclass(frozen=True)
class Overview:
    window: str
    since: datetime
    matrix: Matrix
    standings: list[Standing]
    answers: dict[str, int]
    series: timeseries.Series
    totals: dict[str, int] = field(default_factory=dict)


def matrix(pairs: list[WaitingOut], groups: list[FiguresOut]) -> Matrix:
    """The who-waits pairs (open work, people's p50/p90), the pair's SLA share beside them."""
    found = {(g.department, g.team): g for g in sorted(groups, key=_people_last)}
    cells = {}
    for pair in pairs:
        figures = found.get((pair.department, pair.team))
        cells[(pair.department, pair.team)] = Cell(
            open=pair.open,
            open_requests=pair.open_requests,
            p50_s=pair.median_feedback_latency_s,
            p90_s=pair.p90_feedback_latency_s,
            resolved_in_time=figures.resolved_in_time if figures else None,
        )
    departments = sorted({d for d, _ in cells})
    return Matrix(departments, sorted({t for _, t in cells}), cells)


def _people_last(group: FiguresOut) -> bool:
    """Answers by people win a pair's cell (figures may come apart by who answered)."""
    return getattr(group, "answered_by", "team") != "router"


def _weighted(groups: list[FiguresOut], team: str, name: str) -> float | None:
    """A team's share over its departments, weighted by their tasks."""
    parts = [(getattr(g, name), g.tasks) for g in groups if g.team == team]
    known = [(share, n) for share, n in parts if share is not None]
    total = sum(n for _, n in known)
    return sum(share * n for share, n in known) / total if total else None


def standings(
    principal: Principal, risk: dict[tuple[str, str], int], groups: list[FiguresOut]
) -> list[Standing]:
    """Per team the principal sees: active tasks, at risk, breached (as /v1/teams counts
    them: active, past ``sla_due``), and its SLA compliance from the figures."""
    teams = sorted({team for team, _ in risk} | {g.team for g in groups})
    return [
        Standing(
            team=team,
            open=sum(n for (name, _), n in risk.items() if name == team),
            at_risk=risk.get((team, "at_risk"), 0),
            breached=risk.get((team, "breached"), 0),
            acknowledged_in_time=_weighted(groups, team, "acknowledged_in_time"),
            resolved_in_time=_weighted(groups, team, "resolved_in_time"),
        )
        for team in teams
        if principal.sees_team(team)
    ]


def totals(rows: list[Standing]) -> dict[str, int]:
    summed: dict[str, int] = defaultdict(int)
    for row in rows:
        summed["open"] += row.open
        summed["at_risk"] += row.at_risk
        summed["breached"] += row.breached
    return {"open": 0, "at_risk": 0, "breached": 0, **summed}


def answers(pairs: list[WaitingOut]) -> dict[str, int]:
    """Requests raised in the window answered by people and by the router (as /who-waits)."""
    return {
        "human": sum(p.answered for p in pairs),
        "router": sum(p.router_answered for p in pairs),
    }


def build(api: ApiContext, principal: Principal, window: str) -> Overview:
    """The overview as ``principal`` sees it, once per version of the rollups (and until an
    active task's deadline moves a figure): a page view reads one row when nothing changed."""
    window = timeseries.window_of(window)
    now = api.clock()
    key = ("overview", window, timeseries.window_start(window, now), principal)
    with reading(api.engine) as conn:
        found = figures.cached(
            conn,
            key,
            lambda: figures.Timed(
                _build(conn, principal, window, now), now, deadlines.holds_until(conn, now)
            ),
            fresh=lambda timed: timed.holds(now),
        )
    return found.value


def _build(conn: sa.Connection, principal: Principal, window: str, now: datetime) -> Overview:
    """What ``/v1/stats/who-waits`` and ``/v1/stats/figures`` answer for the window, the SLA
    standing per team, the charts' series."""
    since = timeseries.window_start(window, now)
    found, waiting = figures.window_figures(conn, now=now, since=since)
    pairs = [WaitingOut.of(w) for w in waiting]
    groups = [FiguresOut.of(f) for f in found]
    teams_now = standings(principal, figures.sla_standing(conn, now=now), groups)
    return Overview(
        window=window,
        since=since,
        matrix=matrix(pairs, groups),
        standings=teams_now,
        answers=answers(pairs),
        series=timeseries.from_rollups(conn, now=now, window=window),
        totals=totals(teams_now),
    )


@dataclass(frozen=True)
class SalesView:
    """What sales asked (rush orders, deal outcomes) and who answered, the last 30 days."""

    groups: list[FiguresOut]
    answers: dict[str, int]


def sales_view(api: ApiContext, principal: Principal) -> SalesView:
    now = api.clock()
    since = timeseries.window_start("30d", now)
    with reading(api.engine) as conn:
        found = figures.figures(conn, now=now, since=since, department="sales")
        answered = timeseries.answers_of(conn, since=since, department="sales")
    return SalesView(groups=[FiguresOut.of(f) for f in found], answers=answered)
