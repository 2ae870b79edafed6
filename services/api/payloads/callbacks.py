"""Callbacks: where a source system wants its tasks' updates, and how they are sent."""

import json
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.api.db import Callback
from services.api.payloads.fields import storable_text
from services.api.webhooks import KNOWN_SOURCES, CallbackFormat, CallbackMethod

ENV_NAME = r"^HANDOFF_CALLBACK_[A-Z0-9_]{1,64}$"
HEADER_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
# handoff's own headers, and the credentials that belong in ``auth`` (from the environment)
RESERVED_HEADERS = frozenset(
    {"authorization", "content-type", "content-length", "host", "idempotency-key"}
)


class CallbackAuth(BaseModel):
    """How a delivery authenticates: its secret read from an environment variable when sent."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["basic", "bearer", "header"] = Field(
        description="basic: Authorization: Basic base64(username:secret) (Zendesk: username "
        "'agent@example.com/token', the secret an API token); bearer: Authorization: Bearer "
        "<secret>; header: the secret as the value of `header`"
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    header: Annotated[str, StringConstraints(pattern=HEADER_NAME)] | None = None
    secret_env: Annotated[str, StringConstraints(pattern=ENV_NAME)] = Field(
        description="The environment variable (HANDOFF_CALLBACK_...) of the API process that "
        "holds the password, token or header value; read at each attempt, never stored"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.scheme == "basic" and self.username is None:
            raise ValueError("basic auth needs a username")
        if self.scheme == "header" and self.header is None:
            raise ValueError("header auth needs the header's name")
        if self.header is not None and self.header.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {self.header!r} is set by handoff")
        return self


URL_MAX_LENGTH = 2048
URL_RULE = (
    "An absolute http or https URL as pydantic's AnyHttpUrl reads it (the WHATWG URL "
    "standard), at most 2048 characters. The pattern is the usual form, every URL it "
    "matches is accepted: a DNS name (letters of either case, digits, hyphens; the last "
    "label starts with a letter) or an IPv4 address, a port 1-65535, a path, a query "
    "string and a fragment of URL characters or %XX escapes, and {ref} or {ticket_id}."
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
        description="The CloudEvents source whose tasks report back here: one of "
        + ", ".join(KNOWN_SOURCES)
        + ", or a source of requests handoff has received"
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
        description="Where updates are sent (http or https); {ref} (or {ticket_id}) in it "
        f"becomes the id of the request in its own tool. {URL_RULE}"
    )
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = Field(
        default=None,
        description="Signs each delivery: HMAC-SHA256 of '<timestamp>.<body>' "
        "(X-Handoff-Signature); optional when `auth` is given",
    )
    format: CallbackFormat = "generic"
    method: CallbackMethod | None = Field(
        default=None, description="The HTTP method; PUT for the zendesk format, else POST"
    )
    headers: dict[
        Annotated[str, StringConstraints(pattern=HEADER_NAME)],
        Annotated[str, StringConstraints(max_length=1024, pattern=r"^[\x20-\x7e]*$")],
    ] = Field(default_factory=dict, max_length=20, description="Static headers (no secrets)")
    auth: CallbackAuth | None = None

    @field_validator("source", "secret")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        """NUL or a lone surrogate: a 422 here, not PostgreSQL's DataError (issue 10)."""
        return value if value is None else storable_text(value)

    @field_validator("headers")
    @classmethod
    def _not_ours(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(n for n in value if n.lower() in RESERVED_HEADERS or _handoffs(n))
        if taken:
            raise ValueError(f"set by handoff (credentials go in auth): {', '.join(taken)}")
        return value

    @model_validator(mode="after")
    def _authenticated(self) -> Self:
        if self.secret is None and self.auth is None:
            raise ValueError("give a secret (to sign deliveries) or auth, or both")
        return self

    def sent_with(self) -> str:
        """The method deliveries use."""
        return self.method or ("PUT" if self.format == "zendesk" else "POST")

    def stored_auth(self) -> str | None:
        return None if self.auth is None else self.auth.model_dump_json(exclude_none=True)

    def stored_headers(self) -> str | None:
        return json.dumps(self.headers) if self.headers else None


def _handoffs(name: str) -> bool:
    return name.lower().startswith("x-handoff-")


class CallbackOut(BaseModel):
    source: str
    url: str
    format: str
    created_at: datetime
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    auth: CallbackAuth | None = None
    signed: bool = True

    @classmethod
    def of(cls, row: Callback) -> "CallbackOut":
        auth = CallbackAuth.model_validate_json(row.auth) if row.auth else None
        return cls(
            source=row.source,
            url=row.url,
            format=row.format,
            created_at=row.created_at,
            method=row.method or "POST",
            headers=json.loads(row.headers) if row.headers else {},
            auth=auth,
            signed=bool(row.secret),
        )
