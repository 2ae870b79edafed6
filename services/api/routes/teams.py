"""``/v1/teams``: every team's standing, and one team's queue."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.api.deps import PAGE_DEFAULT, Api, Reader
from services.api.errors import NotFoundError
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT, ErrorOut
from services.api.payloads.fields import TeamName
from services.api.payloads.tasks import TaskPage, task_out
from services.api.payloads.teams import TeamsOut, TeamSummary
from services.api.repository import StateFilter, TeamStanding

router = APIRouter(prefix="/v1/teams")


@router.get(
    "/{team}/tasks",
    response_model=TaskPage,
    responses={**AUTH_ERRORS, 404: {"model": ErrorOut}, **INVALID_INPUT},
    summary="A team's tasks, oldest raised first",
)
def team_tasks(
    principal: Reader,
    api: Api,
    team: Annotated[TeamName, Path(description="Team name, e.g. billing-ui")],
    state: Annotated[StateFilter, Query(description="Which tasks")] = "open",
    limit: Annotated[int, Query(ge=1, description="Page size")] = PAGE_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Tasks to skip")] = 0,
) -> TaskPage:
    if not principal.sees_team(team):
        raise NotFoundError(f"no team {team!r} visible to this token")
    count, tasks = api.repository.team_tasks(team, state=state, limit=limit, offset=offset)
    now = api.clock()
    return TaskPage(team=team, count=count, tasks=[task_out(t, now) for t in tasks])


@router.get(
    "",
    response_model=TeamsOut,
    responses=AUTH_ERRORS,
    summary="Every team with its backlog and SLA standing",
)
def teams(principal: Reader, api: Api) -> TeamsOut:
    standings = api.repository.team_standings(now=api.clock(), team=principal.team)
    return TeamsOut(teams=[_summary(s) for s in standings])


def _summary(standing: TeamStanding) -> TeamSummary:
    return TeamSummary(
        team=standing.team,
        open=standing.states.get("open", 0),
        resolved=standing.states.get("resolved", 0),
        backlog=standing.backlog,
        sla_breached=standing.sla_breached,
        oldest_open_raised_at=standing.oldest_open_raised_at,
        states=standing.states,
        events=standing.events,
    )
