"""``/v1/capacity``: units held for rush orders, per line and hold by hold."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.api import capacity
from services.api.deps import Api, Reader
from services.api.payloads.capacity import HoldOut, HoldsOut, LineHolds, LinesOut
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT

router = APIRouter(prefix="/v1/capacity")
HoldState = Literal["held", "released", "expired"]


@router.get(
    "/lines",
    response_model=LinesOut,
    responses=AUTH_ERRORS,
    summary="Each production line with the units held on it for rush orders",
)
def capacity_lines(principal: Reader, api: Api) -> LinesOut:
    with api.engine.connect() as conn:
        rows = capacity.lines(conn, team=principal.team)
    return LinesOut(lines=[LineHolds.model_validate(row) for row in rows])


@router.get(
    "/holds",
    response_model=HoldsOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Holds on production lines, the first to expire first",
)
def capacity_holds(
    principal: Reader,
    api: Api,
    plant: Annotated[str | None, Query(max_length=128, description="Only this plant")] = None,
    line: Annotated[str | None, Query(max_length=128, description="Only this line")] = None,
    state: Annotated[HoldState, Query(description="Which holds")] = "held",
) -> HoldsOut:
    which = capacity.HoldFilter(plant=plant, line=line, state=state, team=principal.team)
    with api.engine.connect() as conn:
        found = capacity.holds(conn, which)
    return HoldsOut(holds=[HoldOut.model_validate(hold) for hold in found])
