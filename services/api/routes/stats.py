"""``/v1/stats``: feedback latency, per department x team figures, and who waits on whom.

Every figure is read from the rollups (``services.api.figures``), not from a scan
of the tasks; see ``services/api/rollups.py`` for which function gives what.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from services.api import figures as read
from services.api.db import reading
from services.api.deps import Api, Reader
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT
from services.api.payloads.fields import TeamName, UtcInstant
from services.api.payloads.stats import (
    BOUND,
    FiguresOut,
    FiguresPage,
    LatencyStats,
    WaitingOut,
    WhoWaitsOut,
)

router = APIRouter(prefix="/v1/stats")
_rendered: dict[int, tuple[object, bytes]] = {}


def as_json(found: object, page: Callable[[], BaseModel]) -> Response:
    """``page()`` as FastAPI would send it (its ``response_model``'s JSON), rendered once per
    figures object: a cache hit of the figures sends the very bytes of the last request."""
    kept = _rendered.get(id(found))
    if kept is None or kept[0] is not found:  # the figures object is kept: its id is its own
        if len(_rendered) >= 64:
            _rendered.clear()
        kept = (found, page().model_dump_json(by_alias=True).encode())
        _rendered[id(found)] = kept
    return Response(content=kept[1], media_type="application/json")


@router.get(
    "/feedback-latency",
    response_model=LatencyStats,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Feedback latency per asker (request -> answer delivered), answers by people "
    "overall and per team, the router's own answers apart",
    description=BOUND,
)
def feedback_latency(
    principal: Reader,
    api: Api,
    team: Annotated[TeamName | None, Query(description="Only this team")] = None,
    since: Annotated[
        UtcInstant | None,
        Query(description="Only answers delivered at or after this (ISO 8601, with offset)"),
    ] = None,
) -> Response:
    with reading(api.engine) as conn:
        found = read.feedback_latency(conn, team=team, since=since)
    return as_json(found, lambda: LatencyStats.of(found))


@router.get(
    "/figures",
    response_model=FiguresPage,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Latencies (feedback, route, acknowledge, resolve) and SLA compliance "
    "per asking department x team x answered_by, for requests raised in a window",
    description=BOUND,
)
def stats_figures(
    principal: Reader,
    api: Api,
    since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
    until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
    team: Annotated[TeamName | None, Query()] = None,
    department: Annotated[
        str | None, Query(min_length=1, max_length=64, description="The asking department")
    ] = None,
) -> Response:
    with reading(api.engine) as conn:
        found = read.figures(
            conn, now=api.clock(), since=since, until=until, team=team, department=department
        )
    return as_json(found, lambda: figures_page(found))


def figures_page(found: list[read.Figures]) -> FiguresPage:
    return FiguresPage(groups=[FiguresOut.of(f) for f in found])


@router.get(
    "/who-waits",
    response_model=WhoWaitsOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Who waits on whom: open requests and feedback latency per "
    "asking department x answering team (people's answers; the router's apart)",
    description=BOUND,
)
def stats_who_waits(
    principal: Reader,
    api: Api,
    since: Annotated[UtcInstant | None, Query(description="Raised at or after")] = None,
    until: Annotated[UtcInstant | None, Query(description="Raised before")] = None,
) -> WhoWaitsOut:
    with reading(api.engine) as conn:
        pairs = read.who_waits(conn, since=since, until=until)
    return WhoWaitsOut(pairs=[WaitingOut.of(w) for w in pairs])
