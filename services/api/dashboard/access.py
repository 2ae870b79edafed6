"""Who looks at the dashboard: the principal of the token the session was signed in with.

The same :class:`~services.api.auth.Principal` the API builds for a bearer
token, so every page applies the API's own visibility rules. A revoked token
signs its sessions out at the next page.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api import auth
from services.api.dashboard.session import DashboardSession
from services.api.db import ApiToken, reading
from services.api.deps import ApiContext


def principal_for_hash(engine: sa.Engine, token_hash: str) -> auth.Principal | None:
    """The principal of the live token with this SHA-256 (as :func:`auth.authenticate`)."""
    with reading(engine) as conn, Session(bind=conn) as session:
        row = session.scalar(
            sa.select(ApiToken).where(
                ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None)
            )
        )
    if row is None:
        return None
    scope: auth.TokenScope = (
        "admin" if row.scope == "admin" else "write" if row.scope == "write" else "read"
    )
    return auth.Principal(name=f"{row.name} ({row.token_id})", scope=scope, team=row.team)


def principal_of(api: ApiContext, session: DashboardSession | None) -> auth.Principal | None:
    """Who the session is: its token's principal; else, with the API's authentication off,
    admin (as /v1 then treats every caller), else nobody.

    Signing in with a team token while authentication is off narrows the view to
    that team: the demo shows a team's queue that way.
    """
    token_hash = session.token_hash if session is not None else None
    principal = principal_for_hash(api.engine, token_hash) if token_hash is not None else None
    if principal is None and api.settings.api_auth != "required":
        return auth.ANONYMOUS_ADMIN
    return principal


def sign_in(api: ApiContext, token: str) -> str | None:
    """The hash to keep in the session if ``token`` is a live token, else None."""
    principal = auth.authenticate(api.engine, token.strip())
    return auth.hash_token(token.strip()) if principal is not None else None
