"""Input types the payloads share: team names, UTC instants, storable text, message bodies."""

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, WithJsonSchema

from schemas import topics

MESSAGE_MAX: Final = 20_000


def _team_name(value: str) -> str:
    if not topics.is_valid_team(value):
        raise ValueError(
            "a team name is 1-63 lowercase letters, digits and '-', starting with a letter or digit"
        )
    return value


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (PostgreSQL refuses NUL; UTF-8 lone surrogates)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def storable_text(value: str) -> str:
    if (reason := unstorable(value)) is not None:
        raise ValueError(reason)
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


TeamName = Annotated[
    str,
    AfterValidator(_team_name),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$", "maxLength": 63}),
]
UtcInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


# The schema says what storable_text checks: no NUL, and something besides whitespace.
MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX),
    AfterValidator(storable_text),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MESSAGE_MAX,
            "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$",
        }
    ),
]
OptionalMessage = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MESSAGE_MAX),
    AfterValidator(storable_text),
    WithJsonSchema({"type": "string", "maxLength": MESSAGE_MAX, "pattern": r"^[^\x00]*$"}),
]
ExpectedVersion = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The version you last read; a different current version is a 409",
    ),
]
