"""Callbacks: where a source system wants its tasks' updates, and how they are signed."""

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from services.api.db import Callback
from services.api.webhooks import CallbackFormat


class CallbackRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "/sources/support",
                    "url": "https://helpdesk.example.com/hooks/handoff",
                    "secret": "s3cr3t-s3cr3t-s3cr3t",
                    "format": "zendesk",
                }
            ]
        },
    )

    source: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The CloudEvents source whose tasks report back here"
    )
    url: Annotated[
        AnyHttpUrl,
        WithJsonSchema(
            {
                "type": "string",
                "maxLength": 2048,
                # What the URL parser accepts: a name whose last label starts with a
                # letter (else it reads as an IPv4 address), or a dotted quad.
                "pattern": r"^https?://(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
                r"|(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})"
                r"(:[1-9][0-9]{0,3})?(/[A-Za-z0-9/._{}-]*)?$",
                "examples": ["https://helpdesk.example.com/hooks/handoff"],
            }
        ),
    ] = Field(
        description="Where updates are POSTed (http or https); {ticket_id} in it becomes "
        "the id of the request in its own tool"
    )
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] = Field(
        description="Signs each delivery: HMAC-SHA256 of '<timestamp>.<body>'"
    )
    format: CallbackFormat = "generic"


class CallbackOut(BaseModel):
    source: str
    url: str
    format: str
    created_at: datetime

    @classmethod
    def of(cls, row: Callback) -> "CallbackOut":
        return cls(source=row.source, url=row.url, format=row.format, created_at=row.created_at)
