"""The whole routing configuration, compiled once: who gets an event, why, and by when.

A rule document holds ``teams`` (or Alertmanager's ``receivers``), the
``route`` tree, the ``ownership`` table, ``calendars`` and ``sla_policies``.
``RoutingRules.decide`` turns an event's labels into one ``Decision`` per
matched route (``continue`` can match several), with ``$owner`` resolved,
the SLA clocks computed and the group key built. It never fails: everything
that could go wrong was refused at load time.

The group key is the team and the route's ``group_by`` values (children
inherit ``group_by``), not the route: Alertmanager groups per route because a
route is a notification pipeline, but here the unit of work is a team's task,
and routes that only differ in SLA (one child per priority) must still feed
one task. The task's deadlines follow its most urgent request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.core.calendar import parse_calendars
from services.core.errors import RuleError
from services.core.labels import group_key
from services.core.matchers import Labels
from services.core.ownership import OwnershipTable, parse_ownership
from services.core.routetree import OWNER, Capacity, Route, RouteMatch, parse_route_tree
from services.core.sla import SlaClocks, SlaPolicy, parse_duration, parse_sla_policies

_TEAM_KEYS = frozenset({"department", "escalate_to", "description"})
# Alertmanager's own top-level sections: accepted so its files load as they are.
_ALERTMANAGER_KEYS = frozenset(
    {"global", "templates", "inhibit_rules", "time_intervals", "mute_time_intervals"}
)
_KEYS = frozenset(
    {"teams", "receivers", "route", "ownership", "calendars", "sla_policies", "capacity"}
)
DEFAULT_HOLD_EXPIRY = timedelta(hours=48)


@dataclass(frozen=True)
class Team:
    name: str
    department: str | None = None
    escalate_to: str | None = None


@dataclass(frozen=True)
class Decision:
    """One team's share of an event: the route that chose it and what comes with it."""

    route_id: str
    team: str
    department: str | None
    reason: str
    sla: str | None
    clocks: SlaClocks | None
    group_key: str
    labels: Mapping[str, str]
    capacity: Capacity | None
    escalate_to: str | None


@dataclass(frozen=True)
class RoutingRules:
    version: str
    teams: Mapping[str, Team]
    tree: Route
    ownership: OwnershipTable
    policies: Mapping[str, SlaPolicy]
    hold_expiry: timedelta
    fallback_teams: Mapping[str, str]

    def decide(self, labels: Labels, raised_at: datetime) -> tuple[Decision, ...]:
        """Every team this event goes to, in match order (never empty)."""
        return tuple(self._decision(found, labels, raised_at) for found in self.tree.match(labels))

    def explain(self, labels: Labels) -> tuple[tuple[RouteMatch, str, str], ...]:
        """(route, team, reason) for each match, without computing clocks."""
        return tuple((m, *self._owner(m, labels)) for m in self.tree.match(labels))

    def _decision(self, found: RouteMatch, labels: Labels, raised_at: datetime) -> Decision:
        team, reason = self._owner(found, labels)
        policy = self.policies.get(found.sla) if found.sla else None
        key = task_group_key(team, group_key(found.group_by, labels))
        return Decision(
            route_id=found.route_id,
            team=team,
            department=self.teams[team].department,
            reason=reason,
            sla=found.sla,
            clocks=policy.clocks(raised_at) if policy else None,
            group_key=key,
            labels=found.labels,
            capacity=found.capacity,
            escalate_to=self.teams[team].escalate_to,
        )

    def _owner(self, found: RouteMatch, labels: Labels) -> tuple[str, str]:
        if found.team != OWNER:
            return found.team, f"route {found.route_id}"
        owned = self.ownership.owner(labels)
        if owned is not None:
            return owned.team, f"route {found.route_id} -> {owned.explain()}"
        fallback = self.fallback_teams[found.route_id]
        return fallback, f"route {found.route_id} -> no owner matched, fallback {fallback}"


def task_group_key(team: str, labels_key: str) -> str:
    """``billing:{component="billing-ui"}``: one open task per team and ``group_by`` values."""
    return f"{team}:{{{labels_key}}}"


def load_routing_rules(doc: Any, *, version: str, where: str = "") -> RoutingRules:
    """Validate a parsed rule document; RuleError names the place and the reason."""
    if not isinstance(doc, Mapping):
        raise RuleError(where or "rules", "the rule file must be a mapping")
    unknown = sorted(str(k) for k in doc if k not in _KEYS | _ALERTMANAGER_KEYS)
    if unknown:
        raise RuleError(
            _at(where, unknown[0]), f"unknown key (expected one of {', '.join(sorted(_KEYS))})"
        )
    if "route" not in doc:
        raise RuleError(_at(where, "route"), "a rule file needs a route tree")
    teams = _teams(doc, where)
    calendars = parse_calendars(doc.get("calendars"), _at(where, "calendars"))
    policies = parse_sla_policies(doc.get("sla_policies"), calendars, _at(where, "sla_policies"))
    names = frozenset(teams)
    tree = parse_route_tree(
        doc["route"], teams=names, sla_policies=frozenset(policies), where=_at(where, "route")
    )
    ownership = parse_ownership(
        doc.get("ownership") or [], teams=names, where=_at(where, "ownership")
    )
    return RoutingRules(
        version=version,
        teams=teams,
        tree=tree,
        ownership=ownership,
        policies=policies,
        hold_expiry=_hold_expiry(doc.get("capacity"), _at(where, "capacity")),
        fallback_teams=_fallbacks(tree, ownership, _at(where, "route")),
    )


def _teams(doc: Mapping[str, Any], where: str) -> dict[str, Team]:
    teams: dict[str, Team] = {}
    declared = doc.get("teams") or {}
    if not isinstance(declared, Mapping):
        raise RuleError(_at(where, "teams"), "must map team name -> {department, escalate_to}")
    for name, spec in declared.items():
        teams[str(name)] = _team(str(name), spec, f"{_at(where, 'teams')}.{name}")
    receivers = doc.get("receivers") or []
    if not isinstance(receivers, list):
        raise RuleError(
            _at(where, "receivers"), "must be a list of {name: ...} (Alertmanager's form)"
        )
    for n, receiver in enumerate(receivers):
        name = receiver.get("name") if isinstance(receiver, Mapping) else None
        if not isinstance(name, str) or not name:
            raise RuleError(f"{_at(where, 'receivers')}[{n}].name", "every receiver needs a name")
        teams.setdefault(name, Team(name))
    if not teams:
        raise RuleError(
            _at(where, "teams"), "declare the teams routes may name (teams: or receivers:)"
        )
    for team in teams.values():
        if team.escalate_to is not None and team.escalate_to not in teams:
            where = f"{_at(where, 'teams')}.{team.name}.escalate_to"
            raise RuleError(where, f"unknown team {team.escalate_to!r}")
    return teams


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _team(name: str, spec: Any, where: str) -> Team:
    if spec is None:
        return Team(name)
    if not isinstance(spec, Mapping):
        raise RuleError(where, "must be a mapping {department, escalate_to}")
    unknown = sorted(str(k) for k in spec if k not in _TEAM_KEYS)
    if unknown:
        raise RuleError(f"{where}.{unknown[0]}", "unknown key (expected department, escalate_to)")
    department, escalate = spec.get("department"), spec.get("escalate_to")
    for key, value in (("department", department), ("escalate_to", escalate)):
        if value is not None and not isinstance(value, str):
            raise RuleError(f"{where}.{key}", f"{value!r} is not a name")
    return Team(name, department, escalate)


def _hold_expiry(doc: Any, where: str) -> timedelta:
    if doc is None:
        return DEFAULT_HOLD_EXPIRY
    if not isinstance(doc, Mapping) or set(doc) - {"hold_expiry"}:
        raise RuleError(where, "must be {hold_expiry: <duration>}")
    try:
        return parse_duration(str(doc.get("hold_expiry", "48h")))
    except ValueError as exc:
        raise RuleError(f"{where}.hold_expiry", str(exc)) from None


def _fallbacks(tree: Route, ownership: OwnershipTable, where: str) -> dict[str, str]:
    """For each route, the team an unowned ``$owner`` event falls back to.

    The nearest ancestor (or the route itself) that names a real team; a tree
    whose root is ``$owner`` needs an ownership entry that matches everything.
    """
    catch_all = next((entry.owner for entry in ownership.entries if not entry.matchers), None)
    found: dict[str, str] = {}
    for route in tree.walk():
        parent = route.route_id.rsplit("/", 1)[0] or "/"
        own = route.own.team
        if own is not None and own != OWNER:
            found[route.route_id] = own
        elif route.route_id in ("/", parent) or parent not in found:
            if catch_all is None:
                raise RuleError(
                    f"{where}.team",
                    "the root is $owner but no ownership entry matches every event: "
                    "add one without matchers, or give the root a team",
                )
            found[route.route_id] = catch_all  # never used: the catch-all always owns
        else:
            found[route.route_id] = found[parent]
    return found
