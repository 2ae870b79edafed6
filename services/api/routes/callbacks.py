"""``/v1/admin/callbacks``: where each source system wants its tasks' updates (admin only)."""

import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.orm import Session

from services.api.db import Callback, Task, TaskOrigin
from services.api.deps import Admin, Api
from services.api.errors import BadActionError
from services.api.payloads.callbacks import CallbackOut, CallbackRequest
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT
from services.api.webhooks import KNOWN_SOURCES

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
        _known(session, body.source)
        row = session.get(Callback, body.source)
        if row is None:
            row = Callback(source=body.source, created_at=now)
            session.add(row)
        row.url = str(body.url)
        row.secret = body.secret or ""  # none: deliveries are not signed (auth proves them)
        row.format = body.format
        row.method = body.sent_with()
        row.headers = body.stored_headers()
        row.auth = body.stored_auth()
    return CallbackOut.of(row)


@router.get("", response_model=list[CallbackOut], responses=AUTH_ERRORS)
def list_callbacks(principal: Admin, api: Api) -> list[CallbackOut]:
    query = sa.select(Callback).order_by(Callback.source).limit(api.page_max)
    with Session(api.engine) as session:
        return [CallbackOut.of(row) for row in session.scalars(query)]


def _known(session: Session, source: str) -> None:
    """Refuse a source no request can come from (``zendesk`` for ``/sources/zendesk``): a
    callback for it would deliver nothing. Known: ingest's sources, and any source of a
    request handoff has received."""
    if source in KNOWN_SOURCES or _seen(session, source):
        return
    known = ", ".join(KNOWN_SOURCES)
    raise BadActionError("body.source", f"unknown source {source!r}; known: {known}")


def _seen(session: Session, source: str) -> bool:
    for column in (TaskOrigin.source, Task.source):
        if session.scalar(sa.select(column).where(column == source).limit(1)) is not None:
            return True
    return False
