"""What every handler is given: the topic names, the tables, the rules in force."""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from schemas import topics
from services.core.routing import RoutingRules
from services.router.metrics import RouterMetrics

IGNORED: Final = "ignored"
Table = MutableMapping[str, str]


class CurrentRules(Protocol):
    """The rule set in force (a ``RulesHolder``, swapped by the rules feed)."""

    @property
    def current(self) -> RoutingRules: ...


@dataclass(frozen=True)
class Names:
    """The topics of one router app: its own (``<app id>-<suffix>``) and handoff's."""

    app_id: str

    def internal(self, suffix: str) -> str:
        return topics.router_topic(self.app_id, suffix)

    @property
    def groups(self) -> str:
        return self.internal(topics.ROUTER_GROUPS)

    @property
    def clocks(self) -> str:
        return self.internal(topics.ROUTER_CLOCKS)

    @property
    def accounts(self) -> str:
        return self.internal(topics.ROUTER_ACCOUNTS)

    @property
    def capacity(self) -> str:
        return self.internal(topics.ROUTER_CAPACITY)


@dataclass(frozen=True)
class Tables:
    """The router's tables (read through the current batch's writes)."""

    groups: Table  # group_keys_to_tasks
    clocks: Table  # task_ids_to_clocks
    accounts: Table  # accounts_to_open_tasks
    lines: Table  # lines_to_capacity
    requests: Table = field(default_factory=dict)  # accounts_to_requests (intake)


@dataclass(frozen=True)
class Context:
    names: Names
    tables: Tables
    rules: CurrentRules
    metrics: RouterMetrics
    clock: Callable[[], datetime]


def dumps(body: Any) -> str:
    """A table value: compact JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
