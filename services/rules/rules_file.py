"""The routing rules as a YAML file: read, validate once, version by content.

The version is a short sha256 of the file's bytes, so every worker reading the
same rules reports the same version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

import yaml

from services.connectors.config import TeamConnectors, parse_connectors
from services.core.errors import RuleError
from services.core.ownership import entries_from_backstage
from services.core.routing import RoutingRules, load_routing_rules
from services.rules.yaml_lines import line_of

# pyyaml builds nested collections recursively: bound the nesting before it does.
MAX_NESTING: Final = 64


def _yaml_where(where: str, exc: yaml.YAMLError) -> str:
    return _at(where, getattr(exc, "problem_mark", None))


def _at(where: str, mark: Any) -> str:
    """``where``:line:column of a pyyaml ``mark`` (1-based), or ``where`` alone if None."""
    return where if mark is None else f"{where}:{mark.line + 1}:{mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"{context}, {problem}" if context else str(problem)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_routing_rules(path: Path | str) -> RoutingRules:
    """Read a routing file (the Alertmanager-style tree); errors name file:line and why.

    ``backstage: {catalogs: [paths...], label: component}`` loads ownership
    from Backstage ``catalog-info.yaml`` files (paths relative to the rule
    file); entries written in ``ownership:`` come after them, so they win.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise RuleError(str(file), f"cannot read the rule file: {exc.strerror or exc}") from None
    return parse_routing_rules(raw, name=str(file), base=file.parent)


def parse_routing_rules(raw: bytes, *, name: str, base: Path | None) -> RoutingRules:
    """Validate rule-file bytes; the version is a short sha256 of them.

    ``base`` is where Backstage catalogs are read from; None refuses them (a
    rule set uploaded over HTTP names no files on the server).
    """
    text = raw.decode("utf-8", errors="replace")
    try:
        _refuse_deep_nesting(raw, name)
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RuleError(_yaml_where(name, exc), f"invalid YAML: {_yaml_problem(exc)}") from None
    try:
        if isinstance(doc, dict) and "backstage" in doc:
            doc = _with_backstage(doc, base)
        connectors = doc.pop("connectors", None) if isinstance(doc, dict) else None
        rules = load_routing_rules(doc, version=hashlib.sha256(raw).hexdigest()[:12])
        parse_connectors(connectors, frozenset(rules.teams))  # trackers and chat (issue 14)
        return rules
    except RuleError as exc:
        line = line_of(text, exc.where)
        at = f"{name}:{line}" if line else name
        raise RuleError(f"{at}: {exc.where}", exc.reason) from None


def _refuse_deep_nesting(raw: bytes, name: str) -> None:
    """``RuleError`` at the first collection nested deeper than ``MAX_NESTING`` (the parser
    reads events without recursing; bad YAML is left to ``safe_load``, which says why)."""
    depth = 0
    for event in yaml.parse(raw, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                where = _at(name, event.start_mark)
                raise RuleError(where, f"nested deeper than {MAX_NESTING} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _with_backstage(doc: dict[str, Any], base: Path | None) -> dict[str, Any]:
    if base is None:
        raise RuleError(
            "backstage",
            "catalog files are not read for an uploaded rule set: write the entries "
            "under ownership:, or publish the file with `handoff rules publish`",
        )
    spec = doc.pop("backstage")
    if not isinstance(spec, dict) or not isinstance(spec.get("catalogs"), list):
        raise RuleError("backstage", "must be {catalogs: [catalog-info.yaml paths], label: name}")
    label = str(spec.get("label", "component"))
    entries: list[dict[str, Any]] = []
    for n, catalog in enumerate(spec["catalogs"]):
        where = f"backstage.catalogs[{n}]"
        try:
            documents = list(yaml.safe_load_all((base / str(catalog)).read_bytes()))
        except (OSError, yaml.YAMLError) as exc:
            raise RuleError(where, f"cannot read {catalog}: {exc}") from None
        entries += entries_from_backstage(documents, label=label, where=where)
    return {**doc, "ownership": entries + list(doc.get("ownership") or [])}


def split_connectors(raw: bytes, teams: frozenset[str]) -> dict[str, TeamConnectors]:
    """The ``connectors:`` section of rule-file bytes already validated by
    ``parse_routing_rules`` (each team's tracker and chat, issue 14)."""
    doc = yaml.safe_load(raw)
    section = doc.get("connectors") if isinstance(doc, dict) else None
    return parse_connectors(section, teams)
