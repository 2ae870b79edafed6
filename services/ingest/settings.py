from __future__ import annotations

from pydantic import Field

from services.config import ServiceSettings


class IngestSettings(ServiceSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8001
    ingest_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    ingest_ack_timeout_s: float = Field(default=10.0, gt=0)
