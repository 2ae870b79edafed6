from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from services.config import ServiceSettings

SIGNED_SOURCES = ("support", "sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot")
RAW_SOURCES = ("handoff", "zendesk", "freshdesk", "salesforce", "hubspot", "capacity-csv")


class IngestSettings(ServiceSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8001
    ingest_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    ingest_ack_timeout_s: float = Field(default=10.0, gt=0)
    # One webhook secret per source (HANDOFF_INGEST_SECRET_ZENDESK, ...). A source with a
    # secret accepts only requests signed with it; one without refuses every request,
    # unless it is listed in ingest_unsigned_sources (development, the demo).
    ingest_secret_support: SecretStr | None = None
    ingest_secret_sales: SecretStr | None = None
    ingest_secret_capacity: SecretStr | None = None
    ingest_secret_zendesk: SecretStr | None = None
    ingest_secret_freshdesk: SecretStr | None = None
    ingest_secret_salesforce: SecretStr | None = None
    ingest_secret_hubspot: SecretStr | None = None
    ingest_unsigned_sources: tuple[str, ...] = ("support",)
    ingest_signature_max_skew_s: float = Field(default=300.0, gt=0)
    ingest_loss_reasons: tuple[str, ...] = ("budget", "timing", "competitor", "no_need", "other")
    ingest_raw_sources: tuple[str, ...] = RAW_SOURCES
    ingest_raw_consumer_group: str = "handoff-ingest-raw"
    ingest_raw_session_timeout_ms: int = Field(default=10_000, ge=1000)
    # raw-ingest's own /metrics and /healthz (it has no other HTTP surface)
    ingest_raw_host: str = "127.0.0.1"
    ingest_raw_port: int = Field(default=8002, ge=1, le=65535)

    @field_validator("ingest_unsigned_sources")
    @classmethod
    def _known_signed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SIGNED_SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(SIGNED_SOURCES)}")
        return value

    @field_validator("ingest_raw_sources")
    @classmethod
    def _known_raw(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(RAW_SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(RAW_SOURCES)}")
        return value

    @field_validator("ingest_loss_reasons")
    @classmethod
    def _has_other(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "other" not in value:
            raise ValueError("the loss-reason taxonomy needs 'other' for reasons it does not know")
        return value

    def secret(self, source: str) -> bytes | None:
        value: SecretStr | None = getattr(self, f"ingest_secret_{source}")
        return value.get_secret_value().encode() if value is not None else None
