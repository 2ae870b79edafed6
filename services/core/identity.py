"""Who is asking: the account an event belongs to (also its Kafka key)."""

from __future__ import annotations

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
