"""Accounts across tools: the alias map (名寄せ) and the sales outcomes leads are judged by."""

from __future__ import annotations

from datetime import datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from services.api.models.base import Base, UtcDateTime


class SalesOutcome(Base):
    """A deal outcome or lead-status change as routed (one row per sales note)."""

    __tablename__ = "sales_outcomes"
    __table_args__ = (
        sa.Index("ix_sales_outcomes_at", "at"),
        sa.Index("ix_sales_outcomes_task_id", "task_id"),
    )

    event_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(128))
    source: Mapped[str] = mapped_column(sa.String(512))
    account: Mapped[str] = mapped_column(sa.String(320))
    intent: Mapped[str] = mapped_column(sa.String(32))
    lead_status: Mapped[str | None] = mapped_column(sa.String(16))
    stage: Mapped[str | None] = mapped_column(sa.Text)
    amount: Mapped[float | None] = mapped_column(sa.Float)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    loss_reason: Mapped[str | None] = mapped_column(sa.String(64))
    loss_reason_text: Mapped[str | None] = mapped_column(sa.Text)
    lead_id: Mapped[str | None] = mapped_column(sa.String(128))
    contact_id: Mapped[str | None] = mapped_column(sa.String(128))
    opportunity_id: Mapped[str | None] = mapped_column(sa.String(128))
    lead_source: Mapped[str | None] = mapped_column(sa.String(500))
    campaign: Mapped[str | None] = mapped_column(sa.String(500))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccountAlias(Base):
    """One identifier (``crm:...``, ``company:...``, a domain) and the account it belongs to."""

    __tablename__ = "account_aliases"
    __table_args__ = (sa.Index("ix_account_aliases_account", "account"),)

    alias: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    account: Mapped[str] = mapped_column(sa.String(320))
    origin: Mapped[str] = mapped_column(sa.String(16))  # learned, admin, import, merge
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # on handoff.accounts yet (the router's index follows it): an outbox, nothing lost
    published: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


class AccountSetting(Base):
    """What an account is answered in: its locale, set by an admin (the request's own locale
    wins; without either the configured default applies)."""

    __tablename__ = "account_settings"

    account: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    locale: Mapped[str] = mapped_column(sa.String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


SALES_OUTCOMES: Final = cast(sa.Table, SalesOutcome.__table__)
ACCOUNT_ALIASES: Final = cast(sa.Table, AccountAlias.__table__)
ACCOUNT_SETTINGS: Final = cast(sa.Table, AccountSetting.__table__)
