"""Callbacks: where a source system wants its tasks' updates, and how they are signed."""

from datetime import datetime
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    WithJsonSchema,
)

from services.api.db import Callback
from services.api.webhooks import CallbackFormat

URL_MAX_LENGTH = 2048
URL_RULE = (
    "An absolute http or https URL as pydantic's AnyHttpUrl reads it (the WHATWG URL "
    "standard), at most 2048 characters. The pattern is the usual form, every URL it "
    "matches is accepted: a DNS name (letters of either case, digits, hyphens; the last "
    "label starts with a letter) or an IPv4 address, a port 1-65535, a path, a query "
    "string and a fragment of URL characters or %XX escapes, and {ticket_id}."
)
# ECMA-262 and Python ``re`` alike (no inline flags, no named groups): a JSON Schema
# validator in any language reads it the same way.
_LABEL = "(?![Xx][Nn]--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LAST_LABEL = "(?![Xx][Nn]--)[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # else read as IPv4
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_CHARS = "A-Za-z0-9._~!$&'()*+,;=:@{}-"
_PATH = f"(?:/(?:[/{_CHARS}]|%[0-9A-Fa-f]{{2}})*)?"
_TAIL = f"(?:[/?{_CHARS}]|%[0-9A-Fa-f]{{2}})*"
URL_PATTERN = (
    f"^[Hh][Tt][Tt][Pp][Ss]?://(?:(?:{_LABEL}\\.)*{_LAST_LABEL}|{_OCTET}(?:\\.{_OCTET}){{3}})"
    f"(?::{_PORT})?{_PATH}(?:\\?{_TAIL})?(?:#{_TAIL})?$"
)


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
        UrlConstraints(max_length=URL_MAX_LENGTH),
        WithJsonSchema(
            {
                "type": "string",
                "maxLength": URL_MAX_LENGTH,
                "pattern": URL_PATTERN,
                "examples": [
                    "https://helpdesk.example.com/hooks/handoff",
                    "https://automation.atlassian.com/pro/hooks/0f3c?token=AbC123",
                    "https://hooks.example.com:10443/Handoff/{ticket_id}",
                ],
            }
        ),
    ] = Field(
        description="Where updates are POSTed (http or https); {ticket_id} in it becomes "
        f"the id of the request in its own tool. {URL_RULE}"
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
