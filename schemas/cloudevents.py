"""The CloudEvents 1.0 envelope every handoff event travels in, and ids derived from ids.

Re-exported by :mod:`schemas.events`, where the event data models live.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# uuid5 namespace for ids derived from other ids: same input, same id, forever.
HANDOFF_NS = uuid.UUID("6f1c1d2e-5b7a-4c8e-9a43-3f0e2b9d7c11")


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope; ``data`` is one of the event models."""

    model_config = ConfigDict(extra="allow", frozen=True)  # CloudEvents extension attributes

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    slastart: AwareDatetime | None = Field(
        default=None,
        description="CloudEvents extension: when the request's SLA clocks start, given only "
        "when not at `time` -- a request raised long before handoff received it (or dated "
        "after its receipt) is timed from when ingest received it. Readers: `sla_start`.",
    )

    @property
    def sla_start(self) -> datetime:
        """When this request's SLA clocks start: ``slastart`` if given, else ``time``."""
        return self.slastart or self.time

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def derived_id(*parts: str) -> str:
    """A deterministic id from other ids (uuid5 under handoff's namespace)."""
    return str(uuid.uuid5(HANDOFF_NS, "/".join(parts)))


def envelope(
    *,
    type_: str,
    source: str,
    data: BaseModel,
    time: datetime,
    event_id: str,
    subject: str | None = None,
    sla_start: datetime | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source=source,
        type=type_,
        time=time,
        subject=subject,
        data=data.model_dump(mode="json"),
        slastart=sla_start,
    )
