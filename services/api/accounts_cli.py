"""``handoff accounts ...``: the alias map (名寄せ) from the command line, on the API's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import typer

accounts_app = typer.Typer(
    no_args_is_help=True, help="Accounts across tools: link identifiers, merge, import a list."
)


def _link(identifiers: list[str], keep: str | None, origin: str) -> str:
    from services.api.accounts_aliases import apply_link
    from services.api.clock import utc_now
    from services.api.db import make_engine, upgrade
    from services.api.settings import ApiSettings
    from services.core.identity import identifier

    try:
        ids = [identifier(i) for i in identifiers]
        into = identifier(keep) if keep else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    url = ApiSettings().database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return apply_link(conn, ids, origin=origin, now=utc_now(), keep=into)
    finally:
        engine.dispose()


@accounts_app.command("link")
def accounts_link(
    identifiers: list[str] = typer.Argument(help="crm:<id>, company:<id>, a domain..."),
    into: str | None = typer.Option(None, help="Merge into this identifier's account."),
) -> None:
    """Link identifiers into one account (the accounts they belonged to merge)."""
    typer.echo(_link(identifiers, into, "admin"))


@accounts_app.command("merge")
def accounts_merge(
    keep: str = typer.Argument(help="The account that stays."),
    merge: str = typer.Argument(help="The account folded into it."),
) -> None:
    """Merge one account into another: its tasks and aliases move; Kafka keys stay."""
    typer.echo(_link([merge], keep, "merge"))


@accounts_app.command("import")
def accounts_import(
    file: Path = typer.Argument(help="CSV: account,domain per line (a header is skipped)."),
) -> None:
    """Import a CRM's account/domain list (account: a Salesforce AccountId or kind:id)."""
    from services.api.accounts_aliases import AliasImportError, import_csv
    from services.api.clock import utc_now
    from services.api.db import make_engine, upgrade
    from services.api.settings import ApiSettings

    url = ApiSettings().database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            linked = import_csv(conn, file.read_text(encoding="utf-8-sig"), now=utc_now())
    except AliasImportError as exc:
        typer.echo(f"error: {file}: {exc}; nothing imported", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"{linked} lines linked")


@accounts_app.command("show")
def accounts_show(account: str = typer.Argument(help="Any identifier of the account.")) -> None:
    """The account an identifier belongs to, and all its aliases."""
    from services.api.accounts_aliases import aliases_of, resolve
    from services.api.db import make_engine
    from services.api.settings import ApiSettings

    engine = make_engine(ApiSettings().database_url)
    try:
        with engine.connect() as conn:
            found = resolve(conn, account.strip())
            rows = aliases_of(conn, found)
    finally:
        engine.dispose()
    typer.echo(found)
    for row in rows:
        typer.echo(f"  {row['alias']}\t{row['origin']}\t{row['updated_at'].isoformat()}")


@accounts_app.command("locale")
def accounts_locale(
    account: str = typer.Argument(help="Any identifier of the account."),
    locale: str | None = typer.Argument(None, help="ja or en; omitted: show it."),
    clear: bool = typer.Option(False, "--clear", help="Back to the configured default."),
) -> None:
    """The language the router answers an account in (a request's own locale still wins)."""
    from services.api.accounts_locales import LOCALES, account_locale, set_locale
    from services.api.clock import utc_now
    from services.core.identity import identifier

    if locale is not None and locale not in LOCALES:
        typer.echo(f"error: locale must be one of {', '.join(LOCALES)}, not {locale!r}", err=True)
        raise typer.Exit(2)
    try:
        given = identifier(account)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    with _begin() as conn:
        if locale is not None or clear:
            set_locale(conn, given, locale, utc_now())
        typer.echo(account_locale(conn, given) or "default")


@contextmanager
def _begin() -> Iterator[sa.Connection]:
    """A transaction on the API's database (migrated first)."""
    from services.api.db import make_engine, upgrade
    from services.api.settings import ApiSettings

    url = ApiSettings().database_url
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()
