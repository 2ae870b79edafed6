"""Who owns a thing: a CODEOWNERS-style table where the last matching entry wins.

```yaml
ownership:
  - matchers: ['component=~"billing-.*"']
    owner: billing
  - matchers: ['component="billing-ui"']
    owner: billing-frontend      # later and more specific: wins for billing-ui
```

The table can also be built from Backstage ``catalog-info.yaml`` documents:
each ``kind: Component`` becomes an entry matching its ``metadata.name``
against a label (``component`` by default) and owned by ``spec.owner``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.core.errors import RuleError
from services.core.matchers import Labels, Matcher, Op, all_match, parse_matchers

_ENTRY_KEYS = frozenset({"matchers", "match", "match_re", "owner"})


@dataclass(frozen=True)
class OwnershipMatch:
    """The owner found, and which entry (0-based, in file order) said so."""

    team: str
    entry: int
    matchers: tuple[Matcher, ...]

    def explain(self) -> str:
        rule = ", ".join(str(m) for m in self.matchers) or "(matches everything)"
        return f"ownership[{self.entry}] {rule} -> {self.team}"


@dataclass(frozen=True)
class OwnershipEntry:
    matchers: tuple[Matcher, ...]
    owner: str


@dataclass(frozen=True)
class OwnershipTable:
    entries: tuple[OwnershipEntry, ...] = ()

    def owner(self, labels: Labels) -> OwnershipMatch | None:
        """The last entry whose matchers all match, or None when none does."""
        for index in range(len(self.entries) - 1, -1, -1):
            entry = self.entries[index]
            if all_match(entry.matchers, labels):
                return OwnershipMatch(entry.owner, index, entry.matchers)
        return None


def parse_ownership(doc: Any, *, teams: frozenset[str], where: str = "ownership") -> OwnershipTable:
    """Validate an ``ownership:`` list once; an entry without matchers matches everything."""
    if not isinstance(doc, list):
        raise RuleError(where, "must be a list of {matchers: [...], owner: team}")
    return OwnershipTable(tuple(_entry(item, teams, f"{where}[{n}]") for n, item in enumerate(doc)))


def _entry(item: Any, teams: frozenset[str], where: str) -> OwnershipEntry:
    if not isinstance(item, Mapping):
        raise RuleError(where, "must be a mapping like {matchers: [...], owner: team}")
    unknown = sorted(str(key) for key in item if key not in _ENTRY_KEYS)
    if unknown:
        raise RuleError(f"{where}.{unknown[0]}", f"unknown key (expected {_keys_text()})")
    return OwnershipEntry(parse_matchers(item, where), _owner(item, teams, f"{where}.owner"))


def _owner(item: Mapping[str, Any], teams: frozenset[str], where: str) -> str:
    owner = item.get("owner")
    if owner is None or owner == "":
        raise RuleError(where, "is required: the team that owns what the matchers select")
    if not isinstance(owner, str):
        raise RuleError(where, f"{owner!r} is not a team name")
    if owner not in teams:
        raise RuleError(where, f"unknown team {owner!r} (declared: {_listing(teams)})")
    return owner


def entries_from_backstage(
    documents: Iterable[Mapping[str, Any] | None], *, label: str = "component", where: str
) -> list[dict[str, Any]]:
    """Ownership entries for the Components among parsed ``catalog-info.yaml`` documents.

    Other kinds (System, API, Group, ...) and empty documents are skipped.
    ``spec.owner`` is an entity reference, ``[kind:][namespace/]name`` or the
    compound ``{kind, namespace, name}``; its name is the team.
    """
    entries: list[dict[str, Any]] = []
    for n, document in enumerate(documents):
        at = f"{where}[{n}]"
        if document is not None and _is_component(document, at):
            entries.append(_component_entry(document, label, at))
    return entries


def _is_component(document: Mapping[str, Any], where: str) -> bool:
    if not isinstance(document, Mapping):
        raise RuleError(where, "a catalog document must be a mapping")
    kind = document.get("kind")
    if not isinstance(kind, str) or not kind:
        raise RuleError(f"{where}.kind", "is required (Component, System, API, ...)")
    return kind.lower() == "component"


def _component_entry(document: Mapping[str, Any], label: str, where: str) -> dict[str, Any]:
    name = _required(document, "metadata", "name", where)
    if not isinstance(name, str):
        raise RuleError(f"{where}.metadata.name", f"{name!r} is not a string")
    owner = _owner_name(_required(document, "spec", "owner", where), f"{where}.spec.owner")
    return {"matchers": [str(Matcher.build(label, Op.EQUAL, name))], "owner": owner}


def _required(document: Mapping[str, Any], section: str, key: str, where: str) -> Any:
    part = document.get(section)
    if not isinstance(part, Mapping):
        raise RuleError(f"{where}.{section}", f"a Component needs {section}.{key}")
    value = part.get(key)
    if value is None or value == "":
        raise RuleError(f"{where}.{section}.{key}", "is required for a Component")
    return value


def _owner_name(ref: Any, where: str) -> str:
    """``group:default/billing``, ``group:billing``, ``default/billing`` -> ``billing``."""
    if isinstance(ref, Mapping):
        name = ref.get("name")
        if not isinstance(name, str) or not name:
            raise RuleError(f"{where}.name", "an entity reference needs a name")
        return name
    if not isinstance(ref, str):
        raise RuleError(where, f"{ref!r} is not an entity reference")
    rest = ref.strip().partition(":")[2] if ":" in ref else ref.strip()
    name = rest.partition("/")[2] if "/" in rest else rest
    if not name or ":" in name or "/" in name:
        raise RuleError(where, f"{ref!r} is not an entity reference ([kind:][namespace/]name)")
    return name


def _keys_text() -> str:
    return ", ".join(sorted(_ENTRY_KEYS))


def _listing(teams: frozenset[str]) -> str:
    names = sorted(teams)
    if len(names) > 10:
        return ", ".join(names[:10]) + f", ... ({len(names)} in all)"
    return ", ".join(names) or "none"
