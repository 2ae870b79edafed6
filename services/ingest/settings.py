from __future__ import annotations

from datetime import timedelta

from pydantic import AwareDatetime, Field, SecretStr, field_validator

from services.config import ServiceSettings
from services.ingest import times
from services.ingest.adapters.lead_statuses import lead_status_map
from services.ingest.decoding import MAX_DEPTH, MAX_INT_DIGITS, JsonLimits
from services.ingest.sources import SourceConfig

SIGNED_SOURCES = ("support", "sales", "capacity", "zendesk", "freshdesk", "salesforce", "hubspot")
RAW_SOURCES = ("handoff", "zendesk", "freshdesk", "salesforce", "hubspot", "capacity-csv")


class IngestSettings(ServiceSettings):
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8001
    ingest_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    ingest_ack_timeout_s: float = Field(default=10.0, gt=0)
    # JSON bodies: nesting depth and integer length (Python's own limit is 4,300 digits)
    ingest_json_max_depth: int = Field(default=MAX_DEPTH, ge=2, le=500)
    ingest_json_max_int_digits: int = Field(default=MAX_INT_DIGITS, ge=1, le=4300)
    # Times handoff can use: not before this, not more than max_ahead after receipt; a
    # request raised more than sla_max_lag before its receipt is timed from its receipt.
    ingest_time_earliest: AwareDatetime = times.EARLIEST
    ingest_time_max_ahead_s: float = Field(default=times.MAX_AHEAD.total_seconds(), gt=0)
    ingest_sla_max_lag_s: float = Field(default=times.SLA_MAX_LAG.total_seconds(), gt=0)
    # /readyz: ready when the producer delivered within this many seconds (else a probe)
    ingest_ready_delivered_s: float = Field(default=30.0, gt=0)
    # One webhook secret per source (HANDOFF_INGEST_SECRET_ZENDESK, ...). A source with a
    # secret accepts only requests that prove it (by the source's schemes, see sources.py);
    # one without refuses every request, unless it is listed in ingest_unsigned_sources,
    # which is empty unless set (the demo and the test platform set it).
    ingest_secret_support: SecretStr | None = None
    ingest_secret_sales: SecretStr | None = None
    ingest_secret_capacity: SecretStr | None = None
    ingest_secret_zendesk: SecretStr | None = None
    ingest_secret_freshdesk: SecretStr | None = None
    ingest_secret_salesforce: SecretStr | None = None
    ingest_secret_hubspot: SecretStr | None = None
    ingest_unsigned_sources: tuple[str, ...] = ()
    # Tracker webhooks back into handoff (issue 14): Jira's and GitHub's HMAC secrets, and
    # the secret path segment of Backlog's webhook URL. Never unsigned.
    ingest_tracker_secret_jira: SecretStr | None = None
    ingest_tracker_secret_github: SecretStr | None = None
    ingest_tracker_secret_backlog: SecretStr | None = None
    # per source: signature schemes, public URL, labels from custom fields/tags (sources.py)
    ingest_sources: dict[str, SourceConfig] = Field(default_factory=dict)
    ingest_signature_max_skew_s: float = Field(default=300.0, gt=0)
    ingest_loss_reasons: tuple[str, ...] = ("budget", "timing", "competitor", "no_need", "other")
    # CRM lead statuses -> mql/sql/opportunity/won/lost, over Salesforce's and HubSpot's
    # defaults (adapters/lead_statuses.py), e.g. '{"Nurturing": "mql"}'
    ingest_lead_status_map: dict[str, str] = Field(default_factory=dict)
    # Salesforce Outbound Messages are accepted only from this organisation (OrganizationId)
    ingest_salesforce_org_id: str | None = Field(default=None, min_length=15, max_length=18)
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

    @field_validator("ingest_sources")
    @classmethod
    def _known_configured(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        unknown = sorted(set(value) - set(SIGNED_SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(SIGNED_SOURCES)}")
        return value

    @field_validator("ingest_lead_status_map")
    @classmethod
    def _known_stages(cls, value: dict[str, str]) -> dict[str, str]:
        lead_status_map(value)  # raises a ValueError naming a value that is not a stage
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

    def json_limits(self) -> JsonLimits:
        return JsonLimits(
            self.ingest_max_body_bytes, self.ingest_json_max_depth, self.ingest_json_max_int_digits
        )

    def time_window(self) -> times.TimeWindow:
        return times.TimeWindow(
            earliest=self.ingest_time_earliest,
            max_ahead=timedelta(seconds=self.ingest_time_max_ahead_s),
            sla_max_lag=timedelta(seconds=self.ingest_sla_max_lag_s),
        )

    def lead_statuses(self) -> dict[str, str]:
        """The lead status map adapters read: the defaults with this setting over them."""
        return lead_status_map(self.ingest_lead_status_map)

    def secret(self, source: str) -> bytes | None:
        value: SecretStr | None = getattr(self, f"ingest_secret_{source}")
        return value.get_secret_value().encode() if value is not None else None

    def tracker_secret(self, vendor: str) -> bytes | None:
        """A tracker webhook's secret (jira, github, backlog), if configured."""
        value: SecretStr | None = getattr(self, f"ingest_tracker_secret_{vendor}")
        return value.get_secret_value().encode() if value is not None else None

    def source(self, source: str) -> SourceConfig | None:
        """The source's own settings (schemes, public URL, labels), if any were given."""
        return self.ingest_sources.get(source)
