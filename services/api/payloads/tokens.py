"""API tokens: what to create (a team token or an admin one) and what is shown of them."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.api.db import ApiToken
from services.api.payloads.fields import TeamName, storable_text

TokenName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(storable_text),
]


class TeamTokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team": "billing-ui", "scope": "write", "name": "jira"}]},
    )

    team: TeamName = Field(description="The team whose tasks the token reads (and changes)")
    scope: Literal["read", "write"] = "read"
    name: TokenName = "token"


class AdminTokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"scope": "admin", "name": "ops"}]}
    )

    scope: Literal["admin"]
    name: TokenName = "token"


class TokenOut(BaseModel):
    token_id: str
    team: str | None
    scope: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenOut":
        return cls.model_validate(token, from_attributes=True)


class NewTokenOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored")
