"""Who is asking: the account an event belongs to (also its Kafka key)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "yahoo.co.jp", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com",
        "gmx.de", "gmx.net", "web.de", "mail.ru", "qq.com", "163.com", "docomo.ne.jp",
        "ezweb.ne.jp", "softbank.ne.jp",
    }
)  # fmt: skip


def account_from_email(email: str) -> str:
    """The normalised e-mail domain; a public mail domain keeps the whole address."""
    address = email.strip().lower()
    _, _, domain = address.rpartition("@")
    domain = domain.rstrip(".")
    if not domain:
        raise ValueError(f"not an e-mail address: {email!r}")
    return address if domain in PUBLIC_MAIL_DOMAINS else domain


AccountKind = Literal["crm", "company", "email_domain", "email_address"]


@dataclass(frozen=True)
class Account:
    """A resolved account. Ids carry a ``crm:``/``company:`` prefix, e-mail accounts none."""

    value: str
    kind: AccountKind

    def __str__(self) -> str:
        return self.value


def resolve_account(
    *, crm_id: str | None = None, company_id: str | None = None, email: str | None = None
) -> Account:
    """The CRM id, else the company id, else the e-mail account; blank values count as absent.

    An e-mail account never contains ``:`` (no domain and no unquoted local part
    can), and every id does, so an id can never be mistaken for a domain.
    """
    ids: tuple[tuple[AccountKind, str | None], ...] = (("crm", crm_id), ("company", company_id))
    for kind, given in ids:
        if given is not None and given.strip():
            return Account(f"{kind}:{given.strip()}", kind)
    if email is None or not email.strip():
        raise ValueError("no account: give a CRM id, a company id or an e-mail address")
    return _email_account(email)


def _email_account(email: str) -> Account:
    value = account_from_email(email)
    if ":" in value:
        raise ValueError(f"not an e-mail address (':' cannot appear in it): {email!r}")
    return Account(value, "email_address" if "@" in value else "email_domain")


# ---- the alias map (名寄せ): identifiers seen together are one account ----------------------

MAX_LINKED = 8  # identifiers one request links (what task.routed carries)
KIND_RANK: dict[AccountKind, int] = {"crm": 0, "company": 1, "email_domain": 2, "email_address": 3}


def kind_of(identifier: str) -> AccountKind:
    """What an identifier is: ``crm:``/``company:`` ids, else an e-mail domain or address."""
    prefix = identifier.partition(":")[0]
    if ":" in identifier and prefix in ("crm", "company"):
        return "crm" if prefix == "crm" else "company"
    return "email_address" if "@" in identifier else "email_domain"


def request_identifiers(data: Mapping[str, object]) -> list[str]:
    """Every identifier a ticket's or sales note's data carries, as accounts (``crm:X``,
    ``company:Y``, the e-mail domain): two of them in one request link them."""
    ids = (("crm", data.get("crm_account_id")), ("company", data.get("company_id")))
    found = [f"{kind}:{v.strip()}" for kind, v in ids if isinstance(v, str) and v.strip()]
    email = data.get("customer_email") or data.get("requester_email")
    if isinstance(email, str) and "@" in email:
        with suppress(ValueError):  # not an address: it links nothing
            found.append(_email_account(email).value)
    found += _domains(data.get("company_domains"))
    return list(dict.fromkeys(found))[:MAX_LINKED]


def _domains(given: object) -> list[str]:
    """An organisation's own e-mail domains (a public mail domain is nobody's: skipped)."""
    found = []
    for domain in given if isinstance(given, list) else ():
        with suppress(ValueError, AttributeError):
            found.append(identifier(str(domain).removeprefix("@")))
    return [d for d in found if kind_of(d) == "email_domain"]


def canonical(accounts: Iterable[str]) -> str:
    """The account a set of linked accounts is known by: a CRM id first, then a company id,
    then a domain, then an address; the smallest of a kind (so every worker picks the same)."""
    return min(accounts, key=lambda account: (KIND_RANK[kind_of(account)], account))


@dataclass(frozen=True)
class Linked:
    """What linking identifiers changes: the account they are now, the alias rows to write
    (alias -> account) and the accounts folded into it (their tasks move to it)."""

    account: str
    aliases: Mapping[str, str]
    merged: tuple[str, ...]


def link(known: Mapping[str, str], identifiers: Sequence[str], keep: str | None = None) -> Linked:
    """Link ``identifiers`` into one account.

    ``known`` holds the alias rows (alias -> account) of the identifiers and of every alias
    of the accounts they resolve to. The account is :func:`canonical` of those accounts, or
    ``keep``'s account when an admin merges into it.
    """
    if not identifiers:
        raise ValueError("nothing to link")
    accounts = {known.get(i, i) for i in identifiers}
    target = known.get(keep, keep) if keep is not None else canonical(accounts)
    accounts.add(target)
    members = set(identifiers) | accounts | {a for a, acc in known.items() if acc in accounts}
    writes = {m: target for m in sorted(members) if m != target and known.get(m) != target}
    return Linked(target, writes, tuple(sorted(accounts - {target})))


MAX_IDENTIFIER = 320  # the alias column's size
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def identifier(value: str) -> str:
    """An identifier as an admin or a CRM export writes it, normalised: ``crm:``/``company:``
    ids as given, a domain or address lower-cased (a public mail domain alone is refused)."""
    given = value.strip()
    if not given:
        raise ValueError("an identifier is not blank")
    if len(given) > MAX_IDENTIFIER or _UNPRINTABLE.search(given):
        raise ValueError(f"an identifier has at most {MAX_IDENTIFIER} printable characters")
    if kind_of(given) in ("crm", "company"):
        return given
    found = _email_account(given if "@" in given else f"someone@{given}").value
    if "@" in found and "@" not in given:
        raise ValueError(f"{given!r} is a public mail domain: no account's own")
    return found
