"""The skeleton's rule set: component -> team, a default team, SLA per priority.

Loaded from a plain mapping (the router parses the YAML), validated once, so
matching can never fail afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.core.errors import RuleError

PRIORITIES = ("low", "normal", "high", "urgent")
_TEAM = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Route:
    team: str
    rule: str
    sla_due: datetime


@dataclass(frozen=True)
class RuleSet:
    default_team: str
    components: Mapping[str, str]
    sla: Mapping[str, timedelta]
    version: str

    @property
    def teams(self) -> frozenset[str]:
        return frozenset({self.default_team, *self.components.values()})

    def route(self, *, component: str | None, priority: str, raised_at: datetime) -> Route:
        """Owning team and SLA deadline for a ticket."""
        team = self.components.get(component or "")
        rule = f"component:{component}" if team else "default"
        return Route(
            team=team or self.default_team,
            rule=rule,
            sla_due=raised_at + self.sla[priority],
        )


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``4h``, ``2d``."""
    found = _DURATION.fullmatch(str(text).strip())
    if not found:
        raise ValueError(f"{text!r} is not a duration like 30m, 4h or 2d")
    amount, unit = found.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def load_rules(doc: Any, *, where: str = "rules", version: str = "") -> RuleSet:
    """Validate a parsed rule document; raise RuleError naming the key at fault."""
    if not isinstance(doc, Mapping):
        raise RuleError(where, "the rule file must be a mapping")
    unknown = set(doc) - {"default_team", "components", "sla"}
    if unknown:
        raise RuleError(where, f"unknown keys: {', '.join(sorted(unknown))}")
    default_team = _team(doc.get("default_team"), f"{where}: default_team")
    components = doc.get("components") or {}
    if not isinstance(components, Mapping):
        raise RuleError(f"{where}: components", "must map component -> team")
    owned = {
        str(name).lower(): _team(team, f"{where}: components.{name}")
        for name, team in components.items()
    }
    return RuleSet(default_team, owned, _sla(doc.get("sla"), f"{where}: sla"), version)


def _team(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _TEAM.fullmatch(value):
        raise RuleError(where, f"{value!r} is not a team name (lowercase letters, digits, '-')")
    return value


def _sla(value: Any, where: str) -> dict[str, timedelta]:
    if not isinstance(value, Mapping):
        raise RuleError(where, f"must map each priority ({', '.join(PRIORITIES)}) to a duration")
    missing = [p for p in PRIORITIES if p not in value]
    if missing:
        raise RuleError(where, f"no SLA for priority {', '.join(missing)}")
    extra = set(value) - set(PRIORITIES)
    if extra:
        raise RuleError(where, f"unknown priority {', '.join(sorted(map(str, extra)))}")
    try:
        return {p: parse_duration(value[p]) for p in PRIORITIES}
    except ValueError as exc:
        raise RuleError(where, str(exc)) from None
