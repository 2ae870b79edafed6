"""The routing tree, with Alertmanager's route semantics (dispatch/route.go).

Matching is depth-first in file order: a node whose matchers all match goes
on into its children; the first matching child wins unless it says
``continue: true``, then its next siblings are tried too; when no child
matches, the node itself is the result. The root always matches. A child
inherits ``team``, ``sla``, ``group_by`` and ``labels`` (merged per key, the
child wins) from its parent; ``capacity`` belongs to its own node.

The tree is validated once, at load, so matching never fails. Each node's
children are indexed then by the label most of them test for equality
(``=`` or a regex that is only literal alternatives, ``=~"a|b"``): matching
looks at the children listed under the event's value plus those that do not
test that label, in file order - the answers a plain scan gives, at the cost
of a few candidates instead of every sibling.
"""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from services.core.errors import RuleError
from services.core.labels import ALL, GroupBy
from services.core.matchers import Labels, Matcher, Op, parse_matchers

OWNER = "$owner"
ROOT_ID = "/"
_KEYS = (
    "team", "receiver", "sla", "group_by", "labels", "matchers", "match", "match_re",
    "continue", "routes", "capacity", "group_wait", "group_interval", "repeat_interval",
    "mute_time_intervals", "active_time_intervals",
)  # fmt: skip
_TIMERS = ("group_wait", "group_interval", "repeat_interval")
_INTERVALS = ("mute_time_intervals", "active_time_intervals")
_CAPACITY_KEYS = ("line_label", "quantity_label", "due_label")
_POSITION = attrgetter("position")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
_INDEX_FROM = 4  # children; below this a plain scan is as cheap
_PREMERGE_UP_TO = 32  # unindexed siblings copied into every bucket; more are merged when matching


@dataclass(frozen=True)
class Capacity:
    """Which labels of a sales request carry the product line, quantity and due date."""

    line_label: str
    quantity_label: str
    due_label: str


@dataclass(frozen=True)
class Settings:
    """What a node says itself; ``None`` where it inherits from its parent."""

    team: str | None = None
    sla: str | None = None
    group_by: GroupBy | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class RouteMatch:
    """What a matched route decides: who owns the event, its SLA, how it groups."""

    route_id: str
    team: str
    sla: str | None
    group_by: GroupBy
    labels: Mapping[str, str]
    capacity: Capacity | None


@dataclass(frozen=True, eq=False)
class Route:
    """One node of the tree; ``outcome`` holds its settings after inheritance."""

    route_id: str
    position: int
    matchers: tuple[Matcher, ...]
    continues: bool
    own: Settings
    outcome: RouteMatch
    routes: tuple[Route, ...]
    index: _ChildIndex = field(repr=False)

    @property
    def depth(self) -> int:
        return 0 if self.route_id == ROOT_ID else self.route_id.count("/")

    def match(self, labels: Labels) -> tuple[RouteMatch, ...]:
        """Every route the labels end at, in match order (never empty)."""
        return tuple(route.outcome for route in self._descend(labels))

    def walk(self) -> Iterator[Route]:
        """This node and all below it, depth first, in file order."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def describe(self) -> str:
        """``/0 {type="sales.note"} team=planning sla=urgent (inherited) continue``."""
        parts = [self.route_id, "{" + ", ".join(map(str, self.matchers)) + "}"]
        parts.append(_setting("team", self.outcome.team, self.own.team))
        if self.outcome.sla is not None:
            parts.append(_setting("sla", self.outcome.sla, self.own.sla))
        if self.outcome.capacity is not None:
            parts.append("capacity")
        if self.continues:
            parts.append("continue")
        return " ".join(parts)

    def _descend(self, labels: Labels) -> list[Route]:
        found: list[Route] = []
        for child in self.index.candidates(labels):
            if all(matcher.matches(labels) for matcher in child.matchers):
                found += child._descend(labels)
                if not child.continues:
                    break
        return found or [self]


@dataclass(frozen=True)
class _ChildIndex:
    """A node's children by the value of one label they test for equality.

    ``others`` are the children that do not pin that label: candidates for
    every event. A bucket already holds them, in file order, when they are
    few (``merged``); otherwise both are merged by position when matching.
    """

    children: tuple[Route, ...]
    label: str | None = None
    buckets: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    others: tuple[Route, ...] = ()
    merged: bool = True

    @classmethod
    def build(cls, children: tuple[Route, ...]) -> _ChildIndex:
        label = _busiest_label(children) if len(children) >= _INDEX_FROM else None
        if label is None:
            return cls(children)
        pinned = [(child, _equal_values(child.matchers, label)) for child in children]
        others = tuple(child for child, values in pinned if values is None)
        merged = len(others) <= _PREMERGE_UP_TO
        buckets: dict[str, list[Route]] = {v: [] for _, values in pinned for v in values or ()}
        every_bucket = list(buckets) if merged else []
        for child, values in pinned:
            for value in every_bucket if values is None else values:
                buckets[value].append(child)
        frozen = {value: tuple(routes) for value, routes in buckets.items()}
        return cls(children, label, frozen, others, merged)

    def candidates(self, labels: Labels) -> Iterable[Route]:
        """The children that may match, in file order."""
        if self.label is None:
            return self.children
        bucket = self.buckets.get(labels.get(self.label, ""))
        if bucket is None:
            return self.others
        if self.merged or not self.others:
            return bucket
        return heapq.merge(bucket, self.others, key=_POSITION)


def parse_route_tree(
    doc: Mapping[str, Any],
    *,
    teams: frozenset[str],
    sla_policies: frozenset[str],
    where: str = "route",
) -> Route:
    """Validate a ``route:`` tree; RuleError names the place and the reason."""
    _check_root(_mapping(doc, where), where)
    return _route(doc, where, ROOT_ID, 0, None, _Known(teams, sla_policies))


@dataclass(frozen=True)
class _Known:
    teams: frozenset[str]
    sla_policies: frozenset[str]


def _check_root(doc: Mapping[str, Any], where: str) -> None:
    if doc.get("team") is None and doc.get("receiver") is None:
        raise RuleError(where, "the root route needs a team (or receiver): the default owner")
    for key in ("matchers", "match", "match_re", *_INTERVALS):
        if doc.get(key):
            raise RuleError(f"{where}.{key}", f"the root route must not have {key}")
    if doc.get("continue"):
        raise RuleError(f"{where}.continue", "continue is meaningless at the root")


def _route(
    doc: Mapping[str, Any],
    where: str,
    route_id: str,
    position: int,
    parent: RouteMatch | None,
    known: _Known,
) -> Route:
    _check_keys(doc, where)
    _check_timers(doc, where)
    matchers = parse_matchers(doc, where)
    own = _settings(doc, where, known)
    outcome = _inherit(own, parent, route_id, _capacity(doc.get("capacity"), f"{where}.capacity"))
    children = _children(doc, where, route_id, outcome, known)
    continues = _flag(doc.get("continue", False), f"{where}.continue")
    index = _ChildIndex.build(children)
    return Route(route_id, position, matchers, continues, own, outcome, children, index)


def _children(
    doc: Mapping[str, Any], where: str, route_id: str, outcome: RouteMatch, known: _Known
) -> tuple[Route, ...]:
    listed = doc.get("routes") or []
    if not isinstance(listed, list):
        raise RuleError(f"{where}.routes", "must be a list of routes")
    prefix = "" if route_id == ROOT_ID else route_id
    places = [f"{where}.routes[{n}]" for n in range(len(listed))]
    return tuple(
        _route(_mapping(child, place), place, f"{prefix}/{n}", n, outcome, known)
        for n, (place, child) in enumerate(zip(places, listed, strict=True))
    )


def _inherit(
    own: Settings, parent: RouteMatch | None, route_id: str, capacity: Capacity | None
) -> RouteMatch:
    if parent is None:
        assert own.team is not None  # _check_root saw to it
        parent = RouteMatch(route_id, own.team, None, GroupBy(), MappingProxyType({}), None)
    return RouteMatch(
        route_id=route_id,
        team=parent.team if own.team is None else own.team,
        sla=parent.sla if own.sla is None else own.sla,
        group_by=parent.group_by if own.group_by is None else own.group_by,
        labels=MappingProxyType({**parent.labels, **own.labels}),
        capacity=capacity,
    )


def _settings(doc: Mapping[str, Any], where: str, known: _Known) -> Settings:
    return Settings(
        team=_team(doc, where, known.teams),
        sla=_sla(doc.get("sla"), f"{where}.sla", known.sla_policies),
        group_by=_group_by(doc.get("group_by"), f"{where}.group_by"),
        labels=_labels(doc.get("labels"), f"{where}.labels"),
    )


def _check_keys(doc: Mapping[str, Any], where: str, allowed: Sequence[str] = _KEYS) -> None:
    for key in doc:
        if key not in allowed:
            raise RuleError(f"{where}.{key}", "unknown key" + _did_you_mean(key, allowed))


def _team(doc: Mapping[str, Any], where: str, teams: frozenset[str]) -> str | None:
    team, receiver = doc.get("team"), doc.get("receiver")
    if team is not None and receiver is not None and team != receiver:
        raise RuleError(
            f"{where}.receiver",
            f"receiver {receiver!r} disagrees with team {team!r} (receiver is an alias of team)",
        )
    key = "team" if team is not None else "receiver"
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (value != OWNER and value not in teams):
        raise RuleError(f"{where}.{key}", f"unknown team {value!r}" + _did_you_mean(value, teams))
    return value


def _sla(value: Any, where: str, policies: frozenset[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in policies:
        raise RuleError(where, f"unknown SLA policy {value!r}" + _did_you_mean(value, policies))
    return value


def _group_by(value: Any, where: str) -> GroupBy | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise RuleError(where, "must be a list of label names, or ['...'] for every label")
    if "..." in value:
        if len(value) > 1:
            raise RuleError(where, "'...' means every label; it cannot sit beside other names")
        return ALL
    for n, name in enumerate(value):
        _label_name(name, f"{where}[{n}]")
        if name in value[:n]:
            raise RuleError(f"{where}[{n}]", f"{name!r} is listed twice")
    return GroupBy(tuple(value))


def _labels(value: Any, where: str) -> Mapping[str, str]:
    doc = _mapping({} if value is None else value, where)
    for name, text in doc.items():
        _label_name(name, f"{where}.{name}")
        if not isinstance(text, str):
            raise RuleError(f"{where}.{name}", f"{text!r} is not a string (quote it)")
    return MappingProxyType(dict(doc))


def _capacity(value: Any, where: str) -> Capacity | None:
    if value is None:
        return None
    doc = _mapping(value, where)
    _check_keys(doc, where, _CAPACITY_KEYS)
    for key in _CAPACITY_KEYS:
        if key not in doc:
            raise RuleError(where, f"missing {key}: capacity needs {', '.join(_CAPACITY_KEYS)}")
        _label_name(doc[key], f"{where}.{key}")
    return Capacity(doc["line_label"], doc["quantity_label"], doc["due_label"])


def _check_timers(doc: Mapping[str, Any], where: str) -> None:
    for key in _TIMERS:
        if key in doc and not _is_duration(doc[key]):
            raise RuleError(f"{where}.{key}", f"{doc[key]!r} is not a duration like 30s, 5m, 1h30m")
    for key in _INTERVALS:
        listed = doc.get(key) or []
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            raise RuleError(f"{where}.{key}", "must be a list of time interval names")


def _is_duration(value: Any) -> bool:
    return isinstance(value, str) and (value == "0" or bool(value and _DURATION.match(value)))


def _label_name(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise RuleError(where, f"{value!r} is not a label name")


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RuleError(where, f"{value!r} is not true or false")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RuleError(where, "must be a mapping")
    return value


def _did_you_mean(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _setting(name: str, value: str, own: str | None) -> str:
    return f"{name}={value}" + ("" if own is not None else " (inherited)")


def _busiest_label(children: Sequence[Route]) -> str | None:
    """The label most children test for equality, if at least two do."""
    counts: dict[str, int] = {}
    for child in children:
        for name in {m.name for m in child.matchers}:
            counts[name] = counts.get(name, 0) + (_equal_values(child.matchers, name) is not None)
    best = min(counts.items(), key=lambda item: (-item[1], item[0]), default=("", 0))
    return best[0] if best[1] >= 2 else None


def _equal_values(matchers: Sequence[Matcher], label: str) -> frozenset[str] | None:
    """The only values of ``label`` the matchers accept, when one matcher pins them."""
    for matcher in matchers:
        if matcher.name != label:
            continue
        if matcher.op is Op.EQUAL:
            return frozenset({matcher.value})
        if matcher.op is Op.REGEX and _literal_alternatives(matcher.value):
            return frozenset(matcher.value.split("|"))
    return None


def _literal_alternatives(pattern: str) -> bool:
    return all(re.escape(part) == part for part in pattern.split("|"))
