"""API tokens, stored as hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime


class ApiToken(Base):
    """An API token, stored as its SHA-256; the token itself is shown once at creation."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    team: Mapped[str | None] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
