from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field

from services.config import ServiceSettings


class ApiSettings(ServiceSettings):
    database_url: str = "sqlite:///var/handoff.db"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_projector: bool = True
    api_consumer_group: str = "handoff-api-projector"
    # a new consumer group: "earliest" projects every task still on the topics, "latest"
    # only what is routed from the start on (tests sharing a broker; see services.kafka_offsets)
    api_offset_reset: Literal["earliest", "latest"] = "earliest"
    api_page_size_max: int = Field(default=500, gt=0)
    api_consumer_session_timeout_ms: int = Field(default=6000, ge=1000)
    api_feedback_ack_timeout_s: float = Field(default=10.0, gt=0)
    api_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # "required": every /v1 call needs a token; "off": everyone acts as admin (demo, tests).
    api_auth: Literal["required", "off"] = "required"
    # /readyz: ready while the projector (when it runs) polled successfully within this many s
    api_ready_projector_s: float = Field(default=30.0, gt=0)
    api_delivery: bool = True
    # The language of answers to askers whose own is unknown (a rush order's answer).
    api_default_locale: Literal["ja", "en"] = "en"
    api_delivery_max_attempts: int = Field(default=6, ge=1, le=100)
    api_delivery_backoff_initial_s: float = Field(default=1.0, gt=0)
    api_delivery_backoff_max_s: float = Field(default=300.0, gt=0)
    api_delivery_timeout_s: float = Field(default=10.0, gt=0)
    api_delivery_poll_s: float = Field(default=0.5, gt=0)
    # The routing rules the API shows, tests and checks reassignments against: the newest set
    # published on handoff.rules under the key, else this file (the router's default
    # HANDOFF_ROUTER_RULES_FILE). The key is the routers' own HANDOFF_ROUTER_RULES_KEY unless
    # HANDOFF_API_RULES_KEY says otherwise, so one variable keeps them on the same rule set.
    api_rules_file: Path = Path("deploy/config/routing.yaml")
    api_rules_key: str = Field(
        default="current",
        min_length=1,
        validation_alias=AliasChoices(
            "HANDOFF_API_RULES_KEY", "HANDOFF_ROUTER_RULES_KEY", "api_rules_key"
        ),
    )
