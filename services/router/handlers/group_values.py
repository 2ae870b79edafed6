"""The ``group_keys_to_tasks`` table's values, decoded once and encoded from what is known.

A group's value holds its task (up to 1,000 event ids) and the terms of each
of its requests, so every event of a busy group reads and writes it whole. The
handler keeps the last value it read or wrote per group with its decoded form
(``StoredGroups``): the next event of the group starts from that, not from the
JSON, as long as the table still holds that very value (after a batch undone,
or a value recovered from the changelog, it is decoded again). A request's
terms are encoded once (``Stored.encoded``) and reused while they stand. The
bytes are the ones the router always wrote. No faust.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from services.core.grouping import GroupedTask
from services.core.terms import TaskTerms, Terms
from services.router import json_codec
from services.router.handlers.base import Table

GROUPS_CACHED: Final = 128  # the most recently used groups kept decoded
Encoded = Mapping[str, tuple[Terms, bytes]]  # event id -> (its terms, b'"<id>":{<terms>}')


@dataclass(frozen=True)
class Stored:
    """A group's table value: its task and the terms of the task's requests."""

    task: GroupedTask | None
    terms: TaskTerms
    encoded: Encoded = field(default_factory=dict, compare=False, repr=False)
    known_current: tuple[Terms | None] | None = field(default=None, compare=False, repr=False)

    def current(self) -> Terms | None:
        """``terms.current()``, as the write that made this value knew it (no scan)."""
        return self.known_current[0] if self.known_current is not None else self.terms.current()

    def encoded_requests(self) -> dict[str, tuple[Terms, bytes]]:
        """Each request's ``"<event id>":{<its terms>}``, reused while its terms stand."""
        encoded: dict[str, tuple[Terms, bytes]] = {}
        for event_id, terms in self.terms.requests.items():
            known = self.encoded.get(event_id)
            if known is None or known[0] is not terms:
                json = json_codec.dumps(event_id) + b":" + json_codec.dumps(terms.to_dict())
                known = (terms, json)
            encoded[event_id] = known
        return encoded

    def following(
        self, task: GroupedTask, terms: TaskTerms, current: tuple[Terms | None] | None = None
    ) -> Stored:
        """The group's next value, carrying over the JSON of the terms it keeps (and its
        most urgent terms, when the caller knows them)."""
        return Stored(task, terms, self.encoded, current)


def decode(stored: str) -> Stored:
    """A value as the table holds it (its terms' JSON is made again at its first write)."""
    body: dict[str, Any] = json_codec.loads(stored)
    return Stored(GroupedTask.from_dict(body), TaskTerms.from_dict(body.get("terms")))


class StoredGroups:
    """The groups table read through the last values decoded (see the module's docstring)."""

    def __init__(self, table: Table, size: int = GROUPS_CACHED) -> None:
        self.table = table
        self.size = size
        self._known: OrderedDict[str, tuple[str, Stored]] = OrderedDict()

    def get(self, group_key: str) -> Stored:
        value = self.table.get(group_key)
        if not value:
            return Stored(None, TaskTerms())
        known = self._known.get(group_key)
        if known is not None and known[0] == value:  # the same object: no compare
            self._known.move_to_end(group_key)
            return known[1]
        stored = decode(value)
        self._remember(group_key, value, stored)
        return stored

    def write(self, group_key: str, stored: Stored) -> tuple[Table, str, str]:
        """The table write of ``stored`` (remembered decoded, with its terms' JSON): the
        bytes ``{**task.to_dict(), "terms": terms.to_dict()}`` always made."""
        assert stored.task is not None
        encoded = stored.encoded_requests()
        task = json_codec.dumps(stored.task.to_dict())
        revision = str(stored.terms.revision).encode()
        requests = b",".join(json for _, json in encoded.values())
        value = task[:-1] + b',"terms":{"revision":' + revision + b',"requests":{' + requests
        text = (value + b"}}}").decode("utf-8")
        self._remember(group_key, text, replace(stored, encoded=encoded))
        return (self.table, group_key, text)

    def _remember(self, group_key: str, value: str, stored: Stored) -> None:
        self._known[group_key] = (value, stored)
        self._known.move_to_end(group_key)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
