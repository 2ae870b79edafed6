from __future__ import annotations

import pytest

from services.core.identity import account_from_email, resolve_account


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


@pytest.mark.parametrize(
    ("given", "value", "kind"),
    [
        ({"crm_id": "0015g00000XyZ", "company_id": "C-1", "email": "a@acme.com"},
         "crm:0015g00000XyZ", "crm"),
        ({"crm_id": " 0015g00000XyZ\n"}, "crm:0015g00000XyZ", "crm"),  # stripped, case kept
        ({"company_id": "7010001008844", "email": "a@acme.com"}, "company:7010001008844",
         "company"),
        ({"company_id": " Acme-JP "}, "company:Acme-JP", "company"),
        ({"crm_id": "  ", "company_id": "C-1"}, "company:C-1", "company"),  # blank = absent
        ({"crm_id": "", "company_id": None, "email": "Ops@ACME.com"}, "acme.com",
         "email_domain"),
        ({"email": "someone@GMail.com"}, "someone@gmail.com", "email_address"),
        ({"email": "山田太郎@Example.CO.JP"}, "example.co.jp", "email_domain"),
        ({"email": "はなこ.やまだ@Yahoo.co.jp"}, "はなこ.やまだ@yahoo.co.jp", "email_address"),
        ({"email": "花子@docomo.ne.jp"}, "花子@docomo.ne.jp", "email_address"),
        ({"email": "x@株式会社例.jp"}, "株式会社例.jp", "email_domain"),
    ],
)  # fmt: skip
def test_resolve_account_precedence_and_normalisation(
    given: dict[str, str | None], value: str, kind: str
) -> None:
    account = resolve_account(**given)
    assert (account.value, account.kind, str(account)) == (value, kind, value)


def test_an_id_never_collides_with_an_email_account() -> None:
    assert resolve_account(crm_id="acme.com") != resolve_account(email="ops@acme.com")
    assert resolve_account(crm_id="x") != resolve_account(company_id="x")
    assert resolve_account(crm_id="x@gmail.com").value != resolve_account(email="x@gmail.com").value


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({}, "no account"),
        ({"crm_id": " ", "company_id": "", "email": "  "}, "no account"),
        ({"email": "nobody@"}, "not an e-mail address"),
        ({"email": "ops@crm:acme"}, "':' cannot appear"),
        ({"email": '"crm:x"@gmail.com'}, "':' cannot appear"),
    ],
)
def test_resolve_account_says_why_it_cannot(given: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        resolve_account(**given)
