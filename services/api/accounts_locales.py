"""The language an account is answered in (issue 11): set by an admin, read when the
router's answer to a rush order is rendered for the rep's CRM.

The request's own locale wins (a Salesforce owner's ``LanguageLocaleKey``); without it
the account's; without that the configured default. A locale is stored under the account
an identifier resolves to when it is set; after a merge the account also answers in the
locale of an account folded into it (its own first, else the most recently set), so a
merge loses no setting and re-writes no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from services.api.accounts_aliases import resolve
from services.api.models.accounts import ACCOUNT_ALIASES, ACCOUNT_SETTINGS

LOCALES: Final = ("ja", "en")
SETTING = ACCOUNT_SETTINGS.c


def set_locale(conn: sa.Connection, identifier: str, locale: str | None, now: datetime) -> str:
    """Answer ``identifier``'s account in ``locale`` (None: the default again); the account."""
    account = resolve(conn, identifier)
    conn.execute(sa.delete(ACCOUNT_SETTINGS).where(SETTING.account.in_(_members(conn, account))))
    if locale is not None:
        _insert(conn, {"account": account, "locale": locale, "updated_at": now})
    return account


def account_locale(conn: sa.Connection, identifier: str) -> str | None:
    """The locale set for ``identifier``'s account (or an account merged into it), if any."""
    account = resolve(conn, identifier)
    rows = conn.execute(
        sa.select(SETTING.account, SETTING.locale, SETTING.updated_at).where(
            SETTING.account.in_(_members(conn, account))
        )
    ).all()
    if not rows:
        return None
    best = max(rows, key=lambda row: (row.account == account, row.updated_at, row.account))
    return str(best.locale) if best.locale in LOCALES else None


def _members(conn: sa.Connection, account: str) -> list[str]:
    """The account and every identifier that resolves to it."""
    alias = ACCOUNT_ALIASES.c
    found = conn.execute(sa.select(alias.alias).where(alias.account == account)).scalars()
    return [account, *found]


def _insert(conn: sa.Connection, row: dict[str, object]) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(ACCOUNT_SETTINGS).values(row)
    changed = {name: stmt.excluded[name] for name in ("locale", "updated_at")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["account"], set_=changed))
