"""The rule file's ``connectors:`` section (each team's tracker and chat), read on its own.

``parse_routing_rules`` validates it with the rest of the file (errors say
file:line); the tracker consumer reads a team's entry here.
"""

from __future__ import annotations

from pathlib import Path

from services.connectors.config import TeamConnectors
from services.rules.rules_file import read_routing_rules, split_connectors


def read_connectors(path: Path | str) -> dict[str, TeamConnectors]:
    """Every team's connectors in the rule file at ``path`` (validated with the whole file)."""
    rules = read_routing_rules(path)
    return split_connectors(Path(path).read_bytes(), frozenset(rules.teams))
