"""A team's webhook: where its SLA alerts (at risk, breached, escalated to it) are POSTed."""

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from services.api.db import Callback
from services.api.payloads.fields import storable_text
from services.api.team_alerts import TEAM_TARGET_PREFIX


class TeamWebhookRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://chat.example.com/hooks/billing", "secret": "s3cr3t-s3cr3t-s3cr3t"}
            ]
        },
    )

    url: Annotated[AnyHttpUrl, Field(description="Where SLA alerts are POSTed (http or https)")]
    secret: Annotated[
        str,
        StringConstraints(min_length=16, max_length=256),
        AfterValidator(storable_text),
        WithJsonSchema(
            {"type": "string", "minLength": 16, "maxLength": 256, "pattern": r"^[^\x00]*$"}
        ),
    ] = Field(
        description="Signs each alert: HMAC-SHA256 of '<timestamp>.<body>' "
        "in X-Handoff-Signature, as every callback"
    )


class TeamWebhookOut(BaseModel):
    team: str
    url: str
    created_at: datetime

    @classmethod
    def of(cls, row: Callback) -> "TeamWebhookOut":
        team = row.source.removeprefix(TEAM_TARGET_PREFIX)
        return cls(team=team, url=row.url, created_at=row.created_at)
