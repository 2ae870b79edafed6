"""The health check's answer."""

from typing import Literal

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, str] = Field(description="Each part: 'ok', 'disabled', or what failed")


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="Each part: 'ok', 'disabled', or why it is not ready"
    )
