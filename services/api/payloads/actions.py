"""Request bodies of the task actions: resolve, acknowledge, start, reject, reopen, reassign,
comment."""

from pydantic import BaseModel, ConfigDict, Field

from services.api.payloads.fields import ExpectedVersion, MessageText, OptionalMessage, TeamName


class ResolveRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "Fixed in release 4.2"}]}
    )

    message: MessageText = Field(description="The answer for whoever raised the request")
    expected_version: ExpectedVersion = None


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"message": ""}]})

    message: OptionalMessage = Field(default="", description="An optional note")
    expected_version: ExpectedVersion = None


class ReasonRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "Not a billing issue"}]}
    )

    message: MessageText = Field(description="Why")
    expected_version: ExpectedVersion = None


class CommentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"message": "再現できました。修正中です。", "public": True}]
        },
    )

    message: MessageText = Field(description="The comment")
    public: bool = Field(
        default=False,
        description="Shown to the asker in their tool (a public reply); else an internal note",
    )
    expected_version: ExpectedVersion = None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team": "payments", "message": "Card issue"}]},
    )

    team: TeamName = Field(description="The team that takes the task over")
    message: MessageText = Field(description="Why it moves")
    expected_version: ExpectedVersion = None


ActionBody = ResolveRequest | ActionRequest | ReasonRequest | CommentRequest | ReassignRequest
