"""Who is asking: the account an event belongs to (also its Kafka key)."""

from __future__ import annotations

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
