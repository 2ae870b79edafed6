"""``schemas.email.EmailStr`` validates as pydantic's ``EmailStr`` does, and keeps only
valid addresses (issue 15, target 5: a helpdesk import validates the same requesters
again and again)."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas import email
from schemas.email import EmailStr

ADDRESSES = [
    "taro@example.co.jp",
    "Taro.Yamada+billing@Example.CO.JP",  # the domain lower-cased, the local part kept
    "user@xn--r8jz45g.jp",
    "ユーザー@例え.jp",  # internationalised (RFC 6531)
    "not an address",
    "two@@example.com",
    "@example.com",
    "a" * 65 + "@example.com",  # email_validator takes it: so must we
    "x@" + "a" * 300 + ".com",
    "",
]


class Ours(BaseModel):
    email: EmailStr


class Theirs(BaseModel):
    email: pydantic.EmailStr


def outcome(model: type[BaseModel], value: str) -> tuple[str, object]:
    try:
        return "valid", model(email=value).model_dump()
    except ValidationError as exc:
        return "invalid", [(e["type"], e["msg"], e["loc"]) for e in exc.errors()]


@pytest.mark.parametrize("value", ADDRESSES)
def test_the_same_answer_as_pydantics_email_str(value: str) -> None:
    email._kept.cache_clear()
    assert outcome(Ours, value) == outcome(Theirs, value)
    assert outcome(Ours, value) == outcome(Theirs, value)  # and once kept


def test_the_same_json_schema() -> None:
    assert TypeAdapter(EmailStr).json_schema() == TypeAdapter(pydantic.EmailStr).json_schema()


def test_only_valid_addresses_of_an_addresss_length_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email._kept.cache_clear()
    for value in ADDRESSES:
        outcome(Ours, value)
    kept = email._kept.cache_info()
    assert kept.currsize == 5  # the five valid ones; errors are not kept
    assert kept.maxsize == email.KEPT
    monkeypatch.setattr(email, "LONGEST", 10)
    assert outcome(Ours, "hanako@example.co.jp")[0] == "valid"
    assert email._kept.cache_info().currsize == 5  # longer than LONGEST: validated, not kept
