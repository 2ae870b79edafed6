"""``/v1/accounts``: one account's tasks across departments, and its aliases (名寄せ).

An account is asked for by any of its identifiers (``crm:<id>``, ``company:<id>``, a
domain): the alias map resolves it first. Admins link identifiers, merge accounts and
import a CRM's ``account,domain`` list; a merge moves tasks in the API, never a Kafka key.
"""

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request

from services.api.accounts_aliases import (
    AliasImportError,
    aliases_of,
    apply_link,
    import_csv,
    resolve,
)
from services.api.accounts_locales import account_locale, set_locale
from services.api.accounts_payloads import (
    AccountAliasesOut,
    AccountLocaleOut,
    AliasOut,
    ImportOut,
    LinkRequest,
    LocaleRequest,
    MergeRequest,
)
from services.api.deps import PAGE_DEFAULT, Admin, Api, Reader
from services.api.errors import BadActionError, NotFoundError
from services.api.payloads.errors import AUTH_ERRORS, INVALID_INPUT, ErrorOut
from services.api.payloads.tasks import AccountOut, elsewhere, task_out
from services.core.identity import identifier

router = APIRouter(prefix="/v1/accounts")
AccountPath = Annotated[str, Path(min_length=1, max_length=320)]
NO_ACCOUNT = {
    "model": ErrorOut,
    "description": "Not an account's identifier (a public mail domain)",
}
CSV_BODY = {
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get(
    "/{account}",
    response_model=AccountOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="All tasks of one account across departments (other teams' counted)",
)
def account_view(
    principal: Reader,
    api: Api,
    account: AccountPath,
    limit: Annotated[int, Query(ge=1)] = PAGE_DEFAULT,
) -> AccountOut:
    with api.engine.connect() as conn:
        account = resolve(conn, account)
    tasks = api.repository.account_tasks(account, limit=limit)
    now = api.clock()
    return AccountOut(
        account=account,
        tasks=[task_out(t, now) for t in tasks if principal.sees_team(t.team)],
        elsewhere=elsewhere(tasks, principal),
    )


@router.get(
    "/{account}/aliases",
    response_model=AccountAliasesOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="The identifiers one account is known by (learned, set by admins, imported)",
)
def account_aliases(principal: Reader, api: Api, account: AccountPath) -> AccountAliasesOut:
    with api.engine.connect() as conn:
        return _aliases(conn, resolve(conn, account))


@router.post(
    "/links",
    response_model=AccountAliasesOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Link identifiers into one account (admin); accounts they belonged to merge",
)
def link_identifiers(principal: Admin, api: Api, body: LinkRequest) -> AccountAliasesOut:
    with api.engine.begin() as conn:
        account = apply_link(conn, body.identifiers, origin="admin", now=api.clock(),
                             keep=body.into)  # fmt: skip
        return _aliases(conn, account)


@router.post(
    "/merge",
    response_model=AccountAliasesOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Merge one account into another (admin): tasks and aliases move, Kafka keys stay",
)
def merge_accounts(principal: Admin, api: Api, body: MergeRequest) -> AccountAliasesOut:
    with api.engine.begin() as conn:
        account = apply_link(conn, [body.merge], origin="merge", now=api.clock(), keep=body.keep)
        return _aliases(conn, account)


@router.post(
    "/links/csv",
    response_model=ImportOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="Import a CRM's account list (admin): CSV lines account,domain",
    openapi_extra=CSV_BODY,
)
async def import_links(principal: Admin, api: Api, request: Request) -> ImportOut:
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
        with api.engine.begin() as conn:
            return ImportOut(linked=import_csv(conn, text, now=api.clock()))
    except UnicodeDecodeError:
        raise BadActionError("body", "the CSV must be UTF-8") from None
    except AliasImportError as exc:
        raise BadActionError("body", str(exc)) from None


@router.get(
    "/{account}/locale",
    response_model=AccountLocaleOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT},
    summary="The language the router answers this account in (null: the default)",
)
def get_account_locale(principal: Reader, api: Api, account: AccountPath) -> AccountLocaleOut:
    with api.engine.connect() as conn:
        return AccountLocaleOut(
            account=resolve(conn, account), locale=account_locale(conn, account)
        )


@router.put(
    "/{account}/locale",
    response_model=AccountLocaleOut,
    responses={**AUTH_ERRORS, **INVALID_INPUT, 404: NO_ACCOUNT},
    summary="Answer this account in ja or en (admin); a request's own locale still wins",
)
def put_account_locale(
    principal: Admin, api: Api, account: AccountPath, body: LocaleRequest
) -> AccountLocaleOut:
    try:
        given = identifier(account)
    except ValueError as exc:  # a public mail domain, an unprintable name: nobody's account
        raise NotFoundError(f"no account {account!r}: {exc}") from None
    with api.engine.begin() as conn:
        found = set_locale(conn, given, body.locale, api.clock())
        return AccountLocaleOut(account=found, locale=account_locale(conn, found))


def _aliases(conn: sa.Connection, account: str) -> AccountAliasesOut:
    rows = aliases_of(conn, account)
    return AccountAliasesOut(account=account, aliases=[AliasOut.model_validate(r) for r in rows])
