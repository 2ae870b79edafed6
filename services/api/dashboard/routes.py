"""The dashboard's pages under ``/dashboard`` (not in the OpenAPI document: they are HTML).

Every page asks the viewer first: not signed in -> the sign-in page. What a
page shows comes from the API's own route functions called as the viewer's
principal, so another team's task is a 404 here exactly as in ``/v1``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from services.api.dashboard import actions, i18n, live, overview, queue, shared
from services.api.dashboard import series as timeseries
from services.api.dashboard.access import sign_in
from services.api.dashboard.render import STATIC, page
from services.api.dashboard.session import csrf_ok, new_session
from services.api.dashboard.viewer import PATH, Viewer, posted, viewer
from services.api.db import TASK_ID_PATTERN
from services.api.errors import NotFoundError, TaskNotFoundError
from services.api.routes import accounts

router = APIRouter(prefix=PATH, include_in_schema=False)
Look = Annotated[Viewer, Depends(viewer)]
Posted = Annotated[dict[str, str], Depends(posted)]
NOT_FOUND = (TaskNotFoundError, NotFoundError)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def to_sign_in(look: Viewer) -> Response:
    response = see_other(f"{PATH}/sign-in")
    look.keep(response)
    return response


def not_found(look: Viewer) -> Response:
    return page(look, "not_found.html", status_code=404, title="not_found", live=False)


def forbidden(look: Viewer) -> Response:
    return page(look, "sign_in.html", status_code=403, title="sign_in", error="error_csrf")


@router.get("")
def overview_page(
    look: Look, window: Annotated[str | None, Query(max_length=8)] = None
) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    figures = overview.build(look.api, look.principal, window or "")
    return page(
        look, "overview.html", title="overview", o=figures, windows=list(timeseries.WINDOWS)
    )


@router.get("/sign-in")
def sign_in_page(look: Look) -> Response:
    return page(look, "sign_in.html", title="sign_in", error=None)


@router.post("/sign-in")
def sign_in_form(look: Look, form: Posted) -> Response:
    if not csrf_ok(look.session, form.get("csrf")):
        return forbidden(look)
    token_hash = sign_in(look.api, form.get("token", "")[:512])
    if token_hash is None:
        return page(look, "sign_in.html", status_code=401, title="sign_in", error="error_token")
    look.renew(new_session(token_hash))  # a new CSRF token with the new identity
    response = see_other(PATH)
    look.keep(response)
    return response


@router.post("/sign-out")
def sign_out(look: Look, form: Posted) -> Response:
    if not csrf_ok(look.session, form.get("csrf")):
        return forbidden(look)
    look.renew(new_session())
    return to_sign_in(look)


@router.get("/lang/{lang}")
def switch_language(
    lang: Annotated[str, Path(pattern="^(en|ja)$")],
    next_page: Annotated[str, Query(alias="next", max_length=2048)] = PATH,
) -> Response:
    """Remember the language; back to the page (only a dashboard page: no open redirect)."""
    safe = next_page if next_page.startswith(PATH) and "//" not in next_page else PATH
    response = see_other(safe)
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, path=PATH, samesite="lax")
    return response


@router.get("/teams/{team}")
def team_page(look: Look, team: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    try:
        tasks = queue.team_queue(look.api, look.principal, team)
    except NOT_FOUND:
        return not_found(look)
    now = look.api.clock()
    marks = {t.task_id: queue.standing(t, now) for t in tasks}
    counts = {"requests": queue.requests_in(tasks), "accounts": queue.accounts_in(tasks)}
    return page(look, "team.html", title="team", team=team, tasks=tasks, marks=marks, counts=counts)


@router.get("/tasks/{task_id}")
def task_page(look: Look, task_id: Annotated[str, Path(pattern=TASK_ID_PATTERN)],
              done: Annotated[str | None, Query(max_length=32)] = None,
              error: Annotated[str | None, Query(max_length=32)] = None) -> Response:  # fmt: skip
    if look.principal is None:
        return to_sign_in(look)
    try:
        detail = queue.task_detail(look.api, look.principal, task_id)
    except NOT_FOUND:
        return not_found(look)
    standing = queue.standing(detail, look.api.clock())
    return page(look, "task.html", title="task", task=detail, standing=standing,
                origins=queue.origins(detail), done=done, error=error)  # fmt: skip


@router.post("/tasks/{task_id}/{action}")
def task_action(
    look: Look,
    task_id: Annotated[str, Path(pattern=TASK_ID_PATTERN)],
    action: Annotated[str, Path(pattern="^(acknowledge|comment|resolve|reassign)$")],
    form: Posted,
) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    if not csrf_ok(look.session, form.get("csrf")):
        return forbidden(look)
    back = f"{PATH}/tasks/{task_id}"
    try:
        actions.run(look.api, look.principal, task_id, action, form)
    except NOT_FOUND:
        return not_found(look)
    except actions.KNOWN as error:
        return see_other(f"{back}?error={actions.error_key(error)}")
    return see_other(f"{back}?done={action}")


@router.get("/accounts/{account}")
def account_page(
    look: Look, account: Annotated[str, Path(min_length=1, max_length=320)]
) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    found = accounts.account_view(
        look.principal, look.api, account=account, limit=look.api.page_max
    )
    now = look.api.clock()
    marks = {t.task_id: queue.standing(t, now) for t in found.tasks}
    return page(look, "account.html", title="account", account=found, marks=marks)


@router.get("/kpis")
def kpis_page(look: Look) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    return page(look, "kpis.html", title="kpis", k=shared.kpis(look.api, look.principal))


@router.get("/capacity")
def capacity_page(look: Look) -> Response:
    if look.principal is None:
        return to_sign_in(look)
    return page(
        look, "capacity.html", title="capacity", k=shared.capacity_view(look.api, look.principal)
    )


@router.get("/events")
async def events(request: Request, look: Look) -> Response:
    if look.principal is None:
        return Response(status_code=401)
    resumed = request.headers.get("last-event-id", "")[:128] or None
    stream = live.changes(look.api, request.is_disconnected, resumed=resumed)
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """A file of ``static/`` (vendored libraries, the page's CSS and script)."""
    found = (STATIC / name).resolve()
    if not found.is_relative_to(STATIC.resolve()) or not found.is_file():
        return Response(status_code=404)
    return FileResponse(found, headers={"Cache-Control": "public, max-age=3600"})
