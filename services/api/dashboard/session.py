"""The dashboard's session: a signed cookie holding the token's hash and a CSRF token.

The cookie never holds the token itself, so a copied cookie is not an API
token; it is signed (itsdangerous, HMAC-SHA1 over a key derived from the
secret) and expires, so it cannot be forged or kept forever. The CSRF token
lives in the same signed session and every form posts it back (the
synchronizer-token pattern): a page on another site can neither read nor set it.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE: Final = "handoff_dashboard"
SECRET_ENV: Final = "HANDOFF_DASHBOARD_SECRET"  # noqa: S105 - the variable's name
MAX_AGE_S: Final = 12 * 3600
SALT: Final = "handoff.dashboard.session"


@dataclass(frozen=True)
class DashboardSession:
    """Who signed in (the token's SHA-256, None: nobody yet) and the forms' CSRF token."""

    csrf: str
    token_hash: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.token_hash is not None


def new_session(token_hash: str | None = None) -> DashboardSession:
    """A fresh session; signing in makes a new one, so the CSRF token changes with it."""
    return DashboardSession(csrf=secrets.token_urlsafe(32), token_hash=token_hash)


def secret_from_env(environ: dict[str, str] | None = None) -> str:
    """The signing secret: ``HANDOFF_DASHBOARD_SECRET``, else a random one for this process.

    A random secret signs everyone out at a restart (fine for the demo); set
    the variable when several API processes serve the same users.
    """
    value = (environ if environ is not None else dict(os.environ)).get(SECRET_ENV, "")
    return value or secrets.token_urlsafe(48)


class SessionCodec:
    """Signs a session into a cookie value and reads one back (None: forged or expired)."""

    def __init__(self, secret: str, *, max_age_s: int = MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self._max_age = max_age_s

    def dumps(self, session: DashboardSession) -> str:
        return str(self._serializer.dumps({"c": session.csrf, "t": session.token_hash}))

    def loads(self, value: str | None) -> DashboardSession | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self._max_age)
        except BadSignature:  # SignatureExpired is one
            return None
        return _session_of(data)


def _session_of(data: object) -> DashboardSession | None:
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    token_hash = data.get("t")
    return DashboardSession(
        csrf=data["c"], token_hash=token_hash if isinstance(token_hash, str) else None
    )


def csrf_ok(session: DashboardSession | None, submitted: str | None) -> bool:
    """Whether a form's CSRF token is the session's (compared in constant time)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())
