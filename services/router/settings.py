from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.config import ServiceSettings


class RouterSettings(ServiceSettings):
    router_rules_file: Path = Path("deploy/config/routing.yaml")
    # the key of this deployment's rule set on handoff.rules (hot reload)
    router_rules_key: str = "current"
    router_app_id: str = "handoff-router"
    router_web_host: str = "127.0.0.1"
    router_web_port: int = 6066
    router_data_dir: Path = Path("var/router")
    # where a new consumer group starts: earliest (route the backlog) or latest (only new events)
    router_offset_reset: Literal["earliest", "latest"] = "earliest"
    router_log_level: Literal["crit", "error", "warn", "info", "debug"] = "info"
    # How long the group waits for a silent worker before giving its partitions to the
    # others (Faust's default is 60 s: a dead worker's partitions stood still that long).
    # Shorter moves work sooner after a crash; too short lets a long GC pause or a slow
    # batch cost a rebalance. The broker accepts 6 s to 300 s by default.
    router_session_timeout_s: float = Field(default=10.0, ge=6.0, le=300.0)
    router_heartbeat_interval_s: float = Field(default=3.0, gt=0.0, le=100.0)
    # how long a closed task's SLA clock is kept: reopened within it, the task is routed
    # to its team again with fresh budgets (and can be reassigned); later, it is not
    router_reopen_window_s: float = Field(default=7 * 24 * 3600.0, gt=0)
