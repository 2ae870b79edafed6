"""Routing labels: an event reduced to a flat map of strings, and group keys.

The CloudEvents attributes (``type``, ``source``, ``subject``, ``id``,
``time``...) and the event's data fields, nested mappings joined with dots
(``customer.tier``). Values become strings: ``true``/``false``, numbers as
``str`` gives them, dates and datetimes in ISO 8601, lists of scalars
comma-joined; ``None`` leaves the label out, and so does a list holding a
mapping or a list (not a routing label).

A data field never overwrites an envelope attribute: the envelope keeps the
name and the data field is kept as ``data.<name>`` (unless that name is
taken too, then it is left out). When two data fields flatten to the same
name (``{"a.b": 1, "a": {"b": 2}}``) the first one in the mapping wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from services.core.matchers import Labels, Matcher, Op

DATA_PREFIX = "data."


@dataclass(frozen=True)
class GroupBy:
    """The labels a route groups by: some names, or every label (``['...']``)."""

    names: tuple[str, ...] = ()
    every_label: bool = False

    def pick(self, labels: Labels) -> list[tuple[str, str]]:
        """The grouping labels that have a value, sorted by name."""
        names: Iterable[str] = labels if self.every_label else self.names
        return sorted((name, labels[name]) for name in set(names) if labels.get(name))

    def __str__(self) -> str:
        return "['...']" if self.every_label else f"[{', '.join(self.names)}]"


ALL = GroupBy(every_label=True)


def routing_labels(attributes: Mapping[str, object], data: Mapping[str, object]) -> dict[str, str]:
    """The flat label map routes match on; the envelope wins a name clash."""
    labels = dict(_flatten(attributes))
    envelope = set(labels)
    clashing: list[tuple[str, str]] = []
    for name, value in _flatten(data):
        if name in envelope:
            clashing.append((DATA_PREFIX + name, value))
        else:
            labels.setdefault(name, value)
    for name, value in clashing:
        labels.setdefault(name, value)
    return labels


def group_key(group_by: GroupBy, labels: Labels) -> str:
    """``account="acme.com",component="billing-ui"``: sorted, quoted as matchers are.

    An empty or absent label is left out (absent and empty are the same to a
    matcher), so the key parses back into the matchers of its group.
    """
    return ",".join(
        str(Matcher.build(name, Op.EQUAL, value)) for name, value in group_by.pick(labels)
    )


def _flatten(doc: Mapping[Any, object], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, list | tuple):
            if all(_is_scalar(item) for item in value):
                yield name, ",".join(_text(item) for item in value if item is not None)
        elif value is not None:
            yield name, _text(value)


def _is_scalar(value: object) -> bool:
    return not isinstance(value, Mapping | list | tuple)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
