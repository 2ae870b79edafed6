"""``/v1/stats``: feedback latency, per department x team figures, and who waits on whom."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.aggregates import feedback_latency_sql, figures_sql
from services.api.deps import Api, Reader
from services.api.figures import figures, who_waits
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT
from services.api.payloads.fields import TeamName, UtcInstant
from services.api.payloads.stats import (
    FiguresOut,
    FiguresPage,
    LatencyOut,
    LatencyStats,
    WaitingOut,
    WhoWaitsOut,
)
from services.core.stats import LatencySummary, summarize

router = APIRouter(prefix="/v1/stats")


@router.get(
    "/feedback-latency",
    response_model=LatencyStats,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Feedback latency (raised -> answered) of resolved tasks, overall and per team",
)
def feedback_latency(
    principal: Reader,
    api: Api,
    team: Annotated[TeamName | None, Query(description="Only this team")] = None,
    since: Annotated[
        UtcInstant | None,
        Query(description="Only tasks answered at or after this (ISO 8601, with offset)"),
    ] = None,
) -> LatencyStats:
    if api.engine.dialect.name == "postgresql":
        with api.engine.connect() as conn:
            overall, summaries = feedback_latency_sql(conn, team=team, since=since)
    else:  # summarised here: SQLite has no percentiles
        by_team = api.repository.feedback_latencies(team=team, since=since)
        overall = summarize([value for values in by_team.values() for value in values])
        summaries = {name: summarize(values) for name, values in by_team.items()}
    return _latency_stats(overall, summaries)


def _latency_stats(overall: LatencySummary, teams: dict[str, LatencySummary]) -> LatencyStats:
    return LatencyStats(
        overall=LatencyOut.of(overall),
        teams={name: LatencyOut.of(value) for name, value in teams.items()},
    )


@router.get(
    "/figures",
    response_model=FiguresPage,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Latencies (feedback, route, acknowledge, resolve) and SLA compliance "
    "per source department x team, for tasks raised in a window",
)
def stats_figures(
    principal: Reader,
    api: Api,
    since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
    until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
    team: Annotated[TeamName | None, Query()] = None,
    department: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> FiguresPage:
    if api.engine.dialect.name == "postgresql":
        with api.engine.connect() as conn:
            found = figures_sql(
                conn, now=api.clock(), since=since, until=until, team=team, department=department
            )
        return FiguresPage(groups=[FiguresOut.of(f) for f in found])
    rows = api.repository.figure_rows(since=since, until=until, team=team, department=department)
    return FiguresPage(groups=[FiguresOut.of(f) for f in figures(rows, api.clock())])


@router.get(
    "/who-waits",
    response_model=WhoWaitsOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Who waits on whom: open requests and median feedback latency per "
    "asking department x answering team",
)
def stats_who_waits(
    principal: Reader,
    api: Api,
    since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
    until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
) -> WhoWaitsOut:
    rows = api.repository.figure_rows(since=since, until=until, team=None, department=None)
    return WhoWaitsOut(pairs=[WaitingOut.of(w) for w in who_waits(rows)])
