"""Find the line in a YAML file that a rule error's path names.

The core reports *where* a rule is wrong as a path through the parsed document
(``route.routes[1].matchers[0]``, ``calendars.jp-business.hours[1]``); this
adapter walks the same path through pyyaml's node tree to the line a person
edits. Keys may themselves contain dots (``customer.tier``), so at each mapping
the longest key that prefixes the rest of the path wins.
"""

from __future__ import annotations

import re

import yaml

_INDEX = re.compile(r"^\[(\d+)\]")


def line_of(text: str, path: str) -> int | None:
    """1-based line of the node at ``path``, or of its deepest ancestor found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    rest = path
    while rest and node is not None:
        node, rest, at = _step(node, rest.lstrip("."))
        if node is not None:
            line = at.line + 1
    return line


def _step(node: yaml.Node, rest: str) -> tuple[yaml.Node | None, str, yaml.Mark]:
    """One path segment down; the mark is where a person would look for it."""
    if isinstance(node, yaml.SequenceNode):
        found = _INDEX.match(rest)
        if not found or int(found[1]) >= len(node.value):
            return None, rest, node.start_mark
        item = node.value[int(found[1])]
        return item, rest[found.end() :], item.start_mark
    if isinstance(node, yaml.MappingNode):
        keys = [(k.value, k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        matches = [
            (key, key_node, value)
            for key, key_node, value in keys
            if rest == key or rest.startswith((key + ".", key + "["))
        ]
        if not matches:
            return None, rest, node.start_mark
        key, key_node, value = max(matches, key=lambda m: len(m[0]))
        return value, rest[len(key) :], key_node.start_mark
    return None, rest, node.start_mark
