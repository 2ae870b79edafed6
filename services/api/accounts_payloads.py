"""What ``/v1/accounts`` takes and says about the alias map (名寄せ)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from services.core.identity import identifier

Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=r"^[^\x00]+$"),
    AfterValidator(identifier),
]


class AliasOut(BaseModel):
    alias: str = Field(description="An identifier: crm:<id>, company:<id>, a domain or address")
    origin: str = Field(description="learned (from events), admin, import or merge")
    updated_at: datetime


class AccountAliasesOut(BaseModel):
    account: str = Field(description="The account every alias resolves to")
    aliases: list[AliasOut]


class LinkRequest(BaseModel):
    """Identifiers that are one customer, e.g. ``["crm:0015g00000XyZ12AAB", "acme.co.jp"]``."""

    identifiers: list[Identifier] = Field(min_length=1, max_length=50)
    into: Identifier | None = Field(
        default=None,
        description="Merge into this identifier's account (else the best-ranked one: a CRM "
        "id, then a company id, then a domain)",
    )


class MergeRequest(BaseModel):
    """Fold ``merge``'s account into ``keep``'s: its tasks and aliases move, Kafka keeps its
    keys."""

    keep: Identifier
    merge: Identifier


class ImportOut(BaseModel):
    linked: int = Field(description="Lines (account,domain) linked")


class LocaleRequest(BaseModel):
    """The language the router's answers to this account's requests are written in."""

    locale: Literal["ja", "en"] | None = Field(
        description="ja or en; null: the configured default again. A request's own locale "
        "(a Salesforce owner's LanguageLocaleKey) still wins"
    )


class AccountLocaleOut(BaseModel):
    account: str = Field(description="The account the identifier resolves to")
    locale: str | None = Field(description="ja or en; null: the configured default applies")
