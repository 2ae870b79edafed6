"""What every service's settings share. Each service has its own frozen class."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class ServiceSettings(BaseSettings):
    """Read once at the entrypoint from ``HANDOFF_*`` variables, then passed down."""

    model_config = SettingsConfigDict(env_prefix="HANDOFF_", frozen=True, extra="ignore")

    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    topic_partitions: int = 4
