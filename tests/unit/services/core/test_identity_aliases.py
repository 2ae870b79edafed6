"""The alias map (名寄せ): identifiers seen together become one account, in any order."""

from __future__ import annotations

from itertools import permutations

import pytest

from services.core.identity import Linked, canonical, identifier, link, request_identifiers

ZENDESK = ["company:ACME-JP-001", "acme.co.jp"]  # an organisation and its requester's domain
HUBSPOT = ["acme.co.jp"]  # a lead: its e-mail domain only
SALESFORCE = ["crm:0015g00000XyZ12AAB", "acme.co.jp"]  # a contact's e-mail and AccountId


def learn(known: dict[str, str], identifiers: list[str]) -> Linked:
    linked = link(known, identifiers)
    known.update(linked.aliases)
    return linked


@pytest.mark.parametrize("order", list(permutations([ZENDESK, HUBSPOT, SALESFORCE])))
def test_three_tools_are_one_account_whatever_the_order(order: tuple[list[str], ...]) -> None:
    known: dict[str, str] = {}
    for identifiers in order:
        learn(known, identifiers)
    assert known == {
        "company:ACME-JP-001": "crm:0015g00000XyZ12AAB",
        "acme.co.jp": "crm:0015g00000XyZ12AAB",
    }


def test_a_better_identifier_folds_the_account_it_joins() -> None:
    known: dict[str, str] = {}
    assert learn(known, ZENDESK).account == "company:ACME-JP-001"
    linked = learn(known, SALESFORCE)
    assert linked.account == "crm:0015g00000XyZ12AAB"
    assert linked.merged == ("company:ACME-JP-001",)  # its tasks move


def test_an_admin_merge_keeps_the_account_named() -> None:
    known = {"acme.co.jp": "crm:001A"}
    linked = link(known, ["crm:001B"], keep="acme.co.jp")
    assert (linked.account, dict(linked.aliases), linked.merged) == (
        "crm:001A", {"crm:001B": "crm:001A"}, ("crm:001B",))  # fmt: skip


def test_nothing_new_writes_nothing() -> None:
    assert link({"acme.co.jp": "crm:001A"}, ["acme.co.jp", "crm:001A"]).aliases == {}


@pytest.mark.parametrize(
    ("data", "found"),
    [
        ({"crm_account_id": "001A", "customer_email": "Hanako@Acme.co.jp"},
         ["crm:001A", "acme.co.jp"]),
        ({"company_id": " ACME ", "requester_email": "taro@gmail.com"},
         ["company:ACME", "taro@gmail.com"]),
        ({"customer_email": "not an address"}, []),
        ({"crm_account_id": "  "}, []),
        # a Zendesk organisation's domain_names: each linked, a public mail domain never
        ({"company_id": "ACME", "requester_email": "taro@gmail.com",
          "company_domains": ["acme.co.jp", "@Acme.com", "gmail.com", "crm:1", "acme.co.jp"]},
         ["company:ACME", "taro@gmail.com", "acme.co.jp", "acme.com"]),
        ({"company_id": "A", "company_domains": [f"d{i}.example" for i in range(20)]},
         ["company:A", *(f"d{i}.example" for i in range(7))]),  # what task.routed carries
    ],
)  # fmt: skip
def test_the_identifiers_a_request_carries(data: dict[str, object], found: list[str]) -> None:
    assert request_identifiers(data) == found


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("crm:001A", "crm:001A"), ("Acme.CO.JP", "acme.co.jp"), ("Taro@Gmail.com", "taro@gmail.com")],
)
def test_identifiers_as_admins_write_them(given: str, normalised: str) -> None:
    assert identifier(given) == normalised


@pytest.mark.parametrize(("bad", "why"), [("", "blank"), ("gmail.com", "public mail domain")])
def test_a_blank_or_a_public_mail_domain_is_no_identifier(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        identifier(bad)


def test_the_canonical_account_is_by_rank_then_name() -> None:
    assert canonical(["b.example", "company:Z", "crm:2", "crm:1"]) == "crm:1"
    assert canonical(["b.example", "a@gmail.com"]) == "b.example"
