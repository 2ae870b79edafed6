"""What every handler is given: the topic names, the tables, the rules in force."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from schemas import topics
from services.core.routing import RoutingRules
from services.router import json_codec
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
    return json_codec.dumps_text(body)


class DecodedValues:
    """Table values decoded once: a busy key's value (a list of hundreds of entries) is
    read back from the last one decoded or written while the table still holds that very
    value (anything else -- a batch undone, a value recovered -- is decoded again).
    Bodies are shared: callers copy before they change one."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._known: OrderedDict[tuple[int, str], tuple[str, Any]] = OrderedDict()

    def load(self, table: Table, key: str) -> Any:
        """The value's JSON body (None: no value)."""
        value = table.get(key)
        if not value:
            return None
        known = self._known.get((id(table), key))
        if known is not None and known[0] == value:  # the same object: no compare
            return known[1]
        body = json_codec.loads(value)
        self._remember(table, key, value, body)
        return body

    def dump(self, table: Table, key: str, body: Any) -> str:
        """``dumps(body)``, remembered as the key's value."""
        value = dumps(body)
        self._remember(table, key, value, body)
        return value

    def _remember(self, table: Table, key: str, value: str, body: Any) -> None:
        self._known[(id(table), key)] = (value, body)
        self._known.move_to_end((id(table), key))
        while len(self._known) > self.size:
            self._known.popitem(last=False)
