from __future__ import annotations

import pytest

from services.core.identity import account_from_email


@pytest.mark.parametrize(
    ("email", "account"),
    [
        ("Taro.Yamada@Example.CO.JP", "example.co.jp"),
        ("ops@acme.com", "acme.com"),
        ("someone@GMail.com", "someone@gmail.com"),
        ("花子@docomo.ne.jp", "花子@docomo.ne.jp"),
        ("x@sub.acme.com.", "sub.acme.com"),
    ],
)
def test_account_is_company_domain_or_whole_public_address(email: str, account: str) -> None:
    assert account_from_email(email) == account


def test_not_an_address() -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        account_from_email("nobody@")
