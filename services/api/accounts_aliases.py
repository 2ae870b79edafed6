"""The account alias map (名寄せ) in the API's database, and what applying it changes.

``account_aliases`` maps an identifier (``crm:X``, ``company:Y``, a domain) to the account
it belongs to, flattened (one hop). The projector learns it from every ``task.routed``
that carries two identifiers (a Salesforce contact's e-mail with its AccountId, a Zendesk
ticket's organisation with its requester's domain, a HubSpot contact with its company) and
stores the task under the resolved account; admins link, merge and import lists.
Linking that folds accounts together re-points their tasks and outcomes here -- nothing in
Kafka is re-keyed. Concurrent linkers converge: the account of a set is chosen by rank
(:func:`services.core.identity.canonical`), not by arrival order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from schemas.events import CloudEvent
from services.api.models.accounts import ACCOUNT_ALIASES, SALES_OUTCOMES
from services.api.models.tasks import TASKS
from services.core.identity import identifier, link

ALIAS = ACCOUNT_ALIASES.c
MOVED_WITH_ACCOUNT = (TASKS, SALES_OUTCOMES)


class AliasImportError(ValueError):
    """A CSV line that is not ``account,domain``: its line number and why."""


def resolve(conn: sa.Connection, identifier: str) -> str:
    """The account an identifier belongs to (itself when it is no alias)."""
    found = conn.execute(sa.select(ALIAS.account).where(ALIAS.alias == identifier)).scalar()
    return found or identifier


def aliases_of(conn: sa.Connection, account: str) -> list[dict[str, Any]]:
    """The identifiers known as ``account`` (alias rows, by alias)."""
    query = sa.select(ACCOUNT_ALIASES).where(ALIAS.account == account).order_by(ALIAS.alias)
    return [dict(row) for row in conn.execute(query).mappings()]


def apply_link(
    conn: sa.Connection,
    identifiers: Sequence[str],
    *,
    origin: str,
    now: datetime,
    keep: str | None = None,
) -> str:
    """Link ``identifiers`` (into ``keep``'s account when given); the account they are now."""
    linked = link(_known(conn, [*identifiers, *([keep] if keep else [])]), identifiers, keep)
    for alias, account in linked.aliases.items():
        row = {"alias": alias, "account": account, "origin": origin, "updated_at": now}
        _upsert(conn, row | {"published": False})  # the router's index follows (accounts_feed)
    for table in MOVED_WITH_ACCOUNT if linked.merged else ():
        moved = table.c.account.in_(linked.merged)
        conn.execute(sa.update(table).where(moved).values(account=linked.account))
    return linked.account


def learned_account(conn: sa.Connection, event: CloudEvent, row: Mapping[str, Any]) -> str:
    """The account a routed task is stored under, learning the link its request carries."""
    raw = event.data.get("identifiers")
    given = [i for i in raw if isinstance(i, str) and i] if isinstance(raw, list) else []
    identifiers = sorted({row["account"], *given})
    if len(identifiers) < 2:
        return resolve(conn, row["account"])
    return apply_link(conn, identifiers, origin="learned", now=row["projected_at"])


def import_csv(conn: sa.Connection, text: str, *, now: datetime) -> int:
    """Link each ``account,domain`` line of a CRM's export (a header line is skipped); the
    account is ``crm:<id>`` unless it names its kind (``company:<id>``). Lines linked."""
    rows = _csv_rows(text)
    if rows and rows[0][0].strip().lower() in ("account", "account_id", "accountid", "id"):
        rows = rows[1:]
    for number, cells in enumerate(rows, start=1):
        apply_link(conn, _import_line(number, cells), origin="import", now=now)
    return len(rows)


def _csv_rows(text: str) -> list[list[str]]:
    """The non-empty rows; a line the csv module cannot read is an AliasImportError."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise AliasImportError(f"line {reader.line_num}: not CSV ({exc})") from None


def _import_line(number: int, cells: list[str]) -> list[str]:
    if len(cells) < 2 or not cells[0].strip() or not cells[1].strip():
        raise AliasImportError(f"line {number}: expected account,domain")
    account = cells[0].strip()
    try:
        domain = identifier(cells[1].strip().removeprefix("@"))
    except ValueError as exc:
        raise AliasImportError(f"line {number}: {exc}") from None
    return [account if ":" in account else f"crm:{account}", domain]


def _known(conn: sa.Connection, identifiers: Sequence[str]) -> dict[str, str]:
    """The alias rows of the identifiers and of every alias of the accounts they resolve to."""
    known = _pairs(conn, ALIAS.alias.in_(identifiers))
    accounts = set(identifiers) | set(known.values())
    return known | _pairs(conn, ALIAS.account.in_(accounts))


def _pairs(conn: sa.Connection, where: sa.ColumnElement[bool]) -> dict[str, str]:
    rows = conn.execute(sa.select(ALIAS.alias, ALIAS.account).where(where))
    return {str(alias): str(account) for alias, account in rows}


def _upsert(conn: sa.Connection, row: dict[str, Any]) -> None:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(ACCOUNT_ALIASES).values(row)
    names = ("account", "origin", "updated_at", "published")
    changed = {name: stmt.excluded[name] for name in names}
    conn.execute(stmt.on_conflict_do_update(index_elements=["alias"], set_=changed))
