"""The dead-letter message: what could not be processed, why, and its original bytes.

Every service that parks a message on ``schemas.topics.DLQ`` sends this JSON
object as the value (and the original key as the key), so one tool can read
and replay the whole topic.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ConsumedRecord(Protocol):
    """What kafka-python's ConsumerRecord and Faust's Message both carry."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class DeadLetter(BaseModel):
    """A message parked on the dead-letter topic, with the reason and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(description="Why it could not be processed, for a human")
    error_type: str = Field(description="A short class of error, e.g. InvalidCloudEvent")
    topic: str
    partition: int
    offset: int
    key: str | None = Field(description="The original key as UTF-8 (undecodable bytes replaced)")
    value: str = Field(description="The original value as UTF-8 (undecodable bytes replaced)")
    value_b64: str = Field(description="The original value, byte for byte, in base64")
    service: str = Field(description="The service that parked it: router, api, ...")
    at: AwareDatetime

    @classmethod
    def from_raw(
        cls,
        *,
        reason: str,
        error_type: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        service: str,
        at: datetime,
    ) -> DeadLetter:
        """A dead letter for a message as it was read from Kafka (a missing value is empty)."""
        raw = value if value is not None else b""
        return cls(
            reason=reason,
            error_type=error_type,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", errors="replace") if key is not None else None,
            value=raw.decode("utf-8", errors="replace"),
            value_b64=base64.b64encode(raw).decode("ascii"),
            service=service,
            at=at.astimezone(UTC),
        )

    @classmethod
    def of_record(
        cls, record: ConsumedRecord, *, reason: str, error_type: str, service: str, at: datetime
    ) -> DeadLetter:
        """A dead letter for a record a consumer read (kafka-python's or Faust's)."""
        return cls.from_raw(
            reason=reason,
            error_type=error_type,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            service=service,
            at=at,
        )

    def original_value(self) -> bytes:
        """The original value's bytes (from ``value_b64``), e.g. to replay it."""
        return base64.b64decode(self.value_b64)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> DeadLetter:
        return cls.model_validate_json(raw)
