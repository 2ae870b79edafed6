"""``/v1/admin/callbacks``: where each source system wants its tasks' updates (admin only)."""

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import Session

from services.api.db import Callback
from services.api.deps import Admin, Api
from services.api.payloads.callbacks import CallbackOut, CallbackRequest
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT

router = APIRouter(prefix="/v1/admin/callbacks")


@router.put(
    "",
    response_model=CallbackOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Register (or replace) the callback of a source system",
)
def put_callback(principal: Admin, api: Api, body: CallbackRequest) -> CallbackOut:
    now = api.clock()
    with Session(api.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(Callback, body.source)
        if row is None:
            row = Callback(source=body.source, created_at=now)
            session.add(row)
        row.url = str(body.url)
        row.secret = body.secret
        row.format = body.format
    return CallbackOut.of(row)


@router.get("", response_model=list[CallbackOut], responses=AUTH_ERRORS)
def list_callbacks(principal: Admin, api: Api) -> list[CallbackOut]:
    query = sa.select(Callback).order_by(Callback.source).limit(api.page_max)
    with Session(api.engine) as session:
        return [CallbackOut.of(row) for row in session.scalars(query)]
