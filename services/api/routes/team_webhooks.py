"""``/v1/teams/{team}/webhook``: where a team hears of its SLAs at risk, breached, escalated.

A team's own write token, or an admin, registers it; the alerts travel the
callbacks' path (signed, retried, logged, parked): see ``services.api.team_alerts``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from sqlalchemy.orm import Session

from services.api.auth import Principal
from services.api.db import Callback
from services.api.deps import Api, Reader, Writer
from services.api.errors import NotFoundError
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT, ErrorOut
from services.api.payloads.fields import TeamName
from services.api.payloads.team_webhooks import TeamWebhookOut, TeamWebhookRequest
from services.api.rules import unknown_team
from services.api.team_alerts import team_target

router = APIRouter(prefix="/v1/teams")
TeamPath = Annotated[TeamName, Path(description="Team name, e.g. billing-ui")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


def _visible(principal: Principal, team: str) -> None:
    if not principal.sees_team(team):
        raise NotFoundError(f"no team {team!r} visible to this token")


@router.put(
    "/{team}/webhook",
    response_model=TeamWebhookOut,
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID_INPUT},
    summary="Register (or replace) the webhook that hears of the team's SLA alerts",
)
def put_team_webhook(
    principal: Writer, api: Api, team: TeamPath, body: TeamWebhookRequest
) -> TeamWebhookOut:
    _visible(principal, team)
    if (reason := unknown_team(team, api.rules.current)) is not None:
        raise NotFoundError(reason)  # a team the rules do not know is no resource here
    with Session(api.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(Callback, team_target(team))
        if row is None:
            row = Callback(source=team_target(team), created_at=api.clock(), format="generic")
            session.add(row)
        row.url, row.secret = str(body.url), body.secret
    return TeamWebhookOut.of(row)


@router.get(
    "/{team}/webhook",
    response_model=TeamWebhookOut,
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID_INPUT},
    summary="The team's webhook (its secret is never shown)",
)
def get_team_webhook(principal: Reader, api: Api, team: TeamPath) -> TeamWebhookOut:
    _visible(principal, team)
    with Session(api.engine) as session:
        row = session.get(Callback, team_target(team))
        if row is None:
            raise NotFoundError(f"team {team!r} has no webhook")
        return TeamWebhookOut.of(row)


@router.delete(
    "/{team}/webhook",
    status_code=204,
    responses={**AUTH_ERRORS, **NOT_FOUND, **INVALID_INPUT},
    summary="Stop the team's SLA alerts (alerts already owed are still delivered)",
)
def delete_team_webhook(principal: Writer, api: Api, team: TeamPath) -> Response:
    _visible(principal, team)
    with Session(api.engine) as session, session.begin():
        row = session.get(Callback, team_target(team))
        if row is None:
            raise NotFoundError(f"team {team!r} has no webhook")
        session.delete(row)
    return Response(status_code=204)
