"""Who is looking at a page: the session, the principal, the language, the request's path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from services.api.auth import Principal
from services.api.dashboard import i18n
from services.api.dashboard.access import principal_of
from services.api.dashboard.session import (
    COOKIE,
    MAX_AGE_S,
    DashboardSession,
    SessionCodec,
    new_session,
    secret_from_env,
)
from services.api.deps import ApiContext, api_context

PATH: Final = "/dashboard"
FORM: Final = "application/x-www-form-urlencoded"


def codec(request: Request) -> SessionCodec:
    """The app's session codec, made once (its secret from the environment)."""
    state = request.app.state
    if getattr(state, "dashboard_codec", None) is None:
        state.dashboard_codec = SessionCodec(secret_from_env())
    found: SessionCodec = state.dashboard_codec
    return found


@dataclass
class Viewer:
    """One request's viewer; ``principal`` None: not signed in."""

    request: Request
    api: ApiContext
    session: DashboardSession
    principal: Principal | None
    lang: str
    fresh: bool  # the session is new (or changed): the response sets the cookie

    @property
    def path(self) -> str:
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def renew(self, session: DashboardSession) -> None:
        self.session, self.fresh = session, True

    def keep(self, response: Response) -> None:
        """Set the session cookie on ``response`` if it is new; no page is cached."""
        response.headers["Cache-Control"] = "no-store"
        if self.fresh:
            response.set_cookie(
                COOKIE,
                codec(self.request).dumps(self.session),
                max_age=MAX_AGE_S,
                path=PATH,
                httponly=True,
                samesite="lax",
                secure=self.request.url.scheme == "https",
            )


async def posted(request: Request) -> dict[str, str]:
    """A posted HTML form's fields (``application/x-www-form-urlencoded``; the last of a name).

    Read here rather than through python-multipart: the dashboard's forms post
    a few short text fields, and the app's body limit already bounds them.
    """
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=32))


def viewer(request: Request) -> Viewer:
    """The request's viewer: a new anonymous session if none (or a forged one) came."""
    api = api_context(request)
    session = codec(request).loads(request.cookies.get(COOKIE))
    lang = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    if session is None:
        return Viewer(request, api, new_session(), principal_of(api, None), lang, fresh=True)
    return Viewer(request, api, session, principal_of(api, session), lang, fresh=False)
