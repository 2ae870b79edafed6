"""``EmailStr``: pydantic's e-mail type, its validation kept for the addresses seen again.

pydantic's ``EmailStr`` runs ``email_validator`` on every value, about 50 µs an address:
the largest single cost of normalising a helpdesk ticket, whose requesters come back
again and again (a 100,000-line import validates the same few thousand addresses). This
type validates exactly as ``EmailStr`` does (same normalised value, same ``value_error``
and message, same JSON Schema: ``{"type": "string", "format": "email"}``) and keeps the
last ``KEPT`` valid addresses. Only valid addresses are kept (an error is not cached), and
none longer than an address may be.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Final

from pydantic import AfterValidator, WithJsonSchema
from pydantic.networks import validate_email

KEPT: Final = 8192
LONGEST: Final = 320  # RFC 3696's 64 + 1 + 255; email_validator refuses longer anyway


@lru_cache(maxsize=KEPT)
def _kept(value: str) -> str:
    return validate_email(value)[1]


def valid_email(value: str) -> str:
    """The address as ``EmailStr`` normalises it, or pydantic's ``value_error``."""
    return _kept(value) if len(value) <= LONGEST else validate_email(value)[1]


EmailStr = Annotated[
    str, AfterValidator(valid_email), WithJsonSchema({"type": "string", "format": "email"})
]
