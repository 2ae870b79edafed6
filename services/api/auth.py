"""API tokens: created once (shown once), stored as SHA-256, scoped to a team or admin.

A team token reads (``read``) or reads and changes (``write``) its own
team's tasks; an ``admin`` token does everything, including managing tokens
and callbacks. With authentication off every caller acts as admin.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.api.db import ApiToken, reading

TokenScope = Literal["read", "write", "admin"]
SCOPES: Final[tuple[str, ...]] = ("read", "write", "admin")
TOKEN_PREFIX: Final = "hf_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: a team (with a scope) or an admin."""

    name: str
    scope: TokenScope
    team: str | None  # None: admin, every team

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def can(self, scope: TokenScope) -> bool:
        """Whether this caller holds ``scope`` (admin > write > read)."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def sees_team(self, team: str) -> bool:
        return self.team is None or self.team == team


ANONYMOUS_ADMIN: Final = Principal(name="auth-off", scope="admin", team=None)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token_id: str
    token: str  # shown once, never stored
    team: str | None
    scope: TokenScope
    name: str
    created_at: datetime


def create_token(
    engine: sa.Engine, *, team: str | None, scope: TokenScope, name: str, now: datetime
) -> NewToken:
    """Create a token; only its hash is kept. Admin tokens have no team, team tokens one."""
    if (scope == "admin") != (team is None):
        raise ValueError("an admin token has no team; a read or write token needs one")
    token_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with Session(engine) as session, session.begin():
        session.add(
            ApiToken(
                token_id=token_id,
                token_hash=hash_token(token),
                team=team,
                scope=scope,
                name=name,
                created_at=now,
                revoked_at=None,
            )
        )
    return NewToken(token_id, token, team, scope, name, now)


def authenticate(engine: sa.Engine, token: str) -> Principal | None:
    """The principal for ``token``, or None if it is unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    with reading(engine) as conn, Session(bind=conn) as session:
        row = session.scalar(
            sa.select(ApiToken).where(
                ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
            )
        )
    if row is None:
        return None
    scope: TokenScope = (
        "admin" if row.scope == "admin" else "write" if row.scope == "write" else "read"
    )
    return Principal(name=f"{row.name} ({row.token_id})", scope=scope, team=row.team)


def list_tokens(engine: sa.Engine) -> list[ApiToken]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(ApiToken).order_by(ApiToken.created_at)))


def revoke_token(engine: sa.Engine, token_id: str, now: datetime) -> bool:
    with Session(engine) as session, session.begin():
        row = session.get(ApiToken, token_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now
        return row is not None
