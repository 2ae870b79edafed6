"""``/v1/admin/tokens``: creating, listing and revoking API tokens (admin only)."""

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.api import auth
from services.api.deps import Admin, Api
from services.api.errors import NotFoundError
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT, ErrorOut
from services.api.payloads.tokens import AdminTokenRequest, NewTokenOut, TeamTokenRequest, TokenOut

router = APIRouter(prefix="/v1/admin/tokens")


@router.post(
    "",
    response_model=NewTokenOut,
    status_code=201,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Create a token; the token is in this answer only",
)
def create_token(
    principal: Admin, api: Api, body: TeamTokenRequest | AdminTokenRequest
) -> NewTokenOut:
    team = body.team if isinstance(body, TeamTokenRequest) else None
    new = auth.create_token(
        api.engine, team=team, scope=body.scope, name=body.name, now=api.clock()
    )
    return NewTokenOut(
        token_id=new.token_id,
        token=new.token,
        team=new.team,
        scope=new.scope,
        name=new.name,
        created_at=new.created_at,
    )


@router.get("", response_model=list[TokenOut], responses=AUTH_ERRORS)
def list_tokens(principal: Admin, api: Api) -> list[TokenOut]:
    return [TokenOut.of(t) for t in auth.list_tokens(api.engine)[: api.page_max]]


@router.delete(
    "/{token_id}",
    status_code=204,
    responses={**AUTH_ERRORS, 404: {"model": ErrorOut}, **INVALID_INPUT},
    summary="Revoke a token",
)
def revoke_token(
    principal: Admin, api: Api, token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
) -> Response:
    if not auth.revoke_token(api.engine, token_id, api.clock()):
        raise NotFoundError(f"token {token_id!r} not found")
    return Response(status_code=204)
