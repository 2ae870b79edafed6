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
    # how long a closed task's SLA clock is kept: reopened within it, the task is routed
    # to its team again with fresh budgets (and can be reassigned); later, it is not
    router_reopen_window_s: float = Field(default=7 * 24 * 3600.0, gt=0)
