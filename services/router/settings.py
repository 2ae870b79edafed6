from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from services.config import ServiceSettings


class RouterSettings(ServiceSettings):
    router_rules_file: Path = Path("deploy/config/routing.yaml")
    # the key of this deployment's rule set on handoff.rules (hot reload)
    router_rules_key: str = "current"
    router_app_id: str = "handoff-router"
    router_web_host: str = "127.0.0.1"
    router_web_port: int = 6066
    router_data_dir: Path = Path("var/router")
    # where a new consumer group starts on the raw inputs (handoff.ingest.*): earliest (route
    # the backlog) or latest (only new events); its own topics always start at the beginning
    router_offset_reset: Literal["earliest", "latest"] = "earliest"
    router_log_level: Literal["crit", "error", "warn", "info", "debug"] = "info"
    # How long the group waits for a silent worker before giving its partitions to the
    # others (Faust's default is 60 s: a dead worker's partitions stood still that long).
    # A SIGKILLed worker's partitions move after about session timeout + one heartbeat
    # (the survivor hears of the rebalance on its next heartbeat) + ~2 s of recovery:
    # 8 s and 1 s give ~11 s (docs/runbook.md, "Router takeover"). Shorter moves work
    # sooner; too short lets a long GC pause or a slow batch cost a rebalance. The broker
    # accepts 6 s to 300 s by default; heartbeats must come at least three per session.
    router_session_timeout_s: float = Field(default=8.0, ge=6.0, le=300.0)
    router_heartbeat_interval_s: float = Field(default=1.0, gt=0.0, le=100.0)
    # how long a closed task's SLA clock is kept: reopened within it, the task is routed
    # to its team again with fresh budgets (and can be reassigned); later, it is not
    router_reopen_window_s: float = Field(default=7 * 24 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _heartbeats_fit_the_session(self) -> RouterSettings:
        """Kafka's rule: a heartbeat interval above a third of the session timeout lets one
        lost heartbeat cost a rebalance."""
        if self.router_heartbeat_interval_s * 3 > self.router_session_timeout_s:
            raise ValueError(
                "router_heartbeat_interval_s must be at most a third of "
                f"router_session_timeout_s ({self.router_session_timeout_s:g} s)"
            )
        return self
