"""Per-source configuration: how a source proves itself and which labels its fields give.

``HANDOFF_INGEST_SOURCES`` is a JSON object, one entry per source (all optional)::

    {"zendesk":   {"labels": {"component": {"custom_field": "360001234567"}}},
     "freshdesk": {"schemes": ["basic"], "labels": {"component": {"custom_field": "cf_product"}}},
     "hubspot":   {"public_url": "https://handoff.example.com"}}

``schemes`` are the signature schemes the source accepts, in order (see
:mod:`services.ingest.signatures`), each checked against the source's secret
(``HANDOFF_INGEST_SECRET_<SOURCE>``); ``public_url`` is the base URL the tool calls when
ingest sits behind a proxy (HubSpot signs the full URI); ``labels`` maps the tool's
custom fields and tags to routing labels (see :mod:`services.ingest.adapters.labels`).
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.ingest.adapters.labels import LabelName, LabelRule

Scheme = Literal["zendesk", "hubspot-v3", "handoff", "basic", "path"]
DEFAULT_SCHEMES: dict[str, tuple[Scheme, ...]] = {
    "support": ("handoff",),
    "sales": ("handoff",),
    "capacity": ("handoff",),
    "zendesk": ("zendesk",),
    # no signing scheme of their own: basic auth or a secret in the URL path
    "freshdesk": ("basic", "path", "handoff"),
    "salesforce": ("basic", "path", "handoff"),
    "hubspot": ("hubspot-v3", "handoff"),
}
PATH_SECRET = re.compile(r"(/v1/sources/[^/\s]+/webhooks/)[^/\s?\"]+")


class SourceConfig(BaseModel):
    """One source's settings (every field optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schemes: tuple[Scheme, ...] | None = Field(default=None, min_length=1)
    public_url: AnyHttpUrl | None = None
    labels: dict[LabelName, LabelRule] = Field(default_factory=dict)


def schemes_of(source: str, config: SourceConfig | None) -> tuple[Scheme, ...]:
    """The schemes the source accepts: its configured ones, else its default."""
    if config is not None and config.schemes:
        return config.schemes
    return DEFAULT_SCHEMES[source]


def signed_uri(url: str, path_and_query: str, config: SourceConfig | None) -> str:
    """The URI the tool called: ``public_url`` + path and query when set, else the request's."""
    if config is None or config.public_url is None:
        return url
    return str(config.public_url).rstrip("/") + path_and_query


class RedactPathSecrets(logging.Filter):
    """Hide a secret sent in a webhook's path from the access log (``/webhooks/***``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        record.msg = _redacted(record.msg)
        return True


def _redacted(value: object) -> object:
    return PATH_SECRET.sub(r"\1***", value) if isinstance(value, str) else value


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install :class:`RedactPathSecrets` on the access log once."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactPathSecrets) for f in logger.filters):
        logger.addFilter(RedactPathSecrets())
