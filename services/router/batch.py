"""Batched table writes: a batch's events read each other's writes; the table sees them later.

Events that wait are handled as one batch: in order, each seeing the table
writes of those before it, while their sends are collected; the batch's sends
are then made and acknowledged together, and only then are its table writes
applied (each to the changelog partition of the event that made it). No
Faust here: the app hands in how a write is applied under its event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any, cast

Send = tuple[str, bytes | None, bytes]  # topic name, key, value
ApplyWrite = Callable[["BatchedTable", str, "str | None", Any], Awaitable[None]]


async def apply_plainly(table: BatchedTable, key: str, value: str | None, event: Any) -> None:
    await table.apply(key, value)


class Batch:
    """What a batch of events produced: the sends to make, and the table writes to apply
    once they are acknowledged (read back by the batch's later events meanwhile)."""

    def __init__(self, apply_write: ApplyWrite = apply_plainly) -> None:
        self.sends: list[Send] = []
        self.writes: list[tuple[BatchedTable, str, str | None, Any]] = []  # None: delete
        self.overlay: dict[tuple[int, str], str | None] = {}
        self.event: Any = None  # the one being handled
        self._apply_write = apply_write

    def write(self, table: BatchedTable, key: str, value: str | None) -> None:
        assert self.event is not None
        self.writes.append((table, key, value, self.event))
        self.overlay[(id(table), key)] = value

    def mark(self) -> tuple[int, int]:
        return len(self.sends), len(self.writes)

    def undo(self, mark: tuple[int, int]) -> None:
        """Forget what was produced since ``mark`` (an event that failed half-way)."""
        sends, writes = mark
        del self.sends[sends:]
        del self.writes[writes:]
        self.overlay = {(id(table), key): value for table, key, value, _ in self.writes}

    async def apply(self) -> None:
        """Write to the tables, each change under the event that made it."""
        for table, key, value, event in self.writes:
            await self._apply_write(table, key, value, event)


CURRENT_BATCH: ContextVar[Batch | None] = ContextVar("handoff_router_batch", default=None)


class BatchedTable(MutableMapping[str, str]):
    """A table read through the current batch's pending writes; written directly
    outside a batch (the SLA timer)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, key: str) -> str:
        batch = CURRENT_BATCH.get()
        if batch is not None and (id(self), key) in batch.overlay:
            value = batch.overlay[(id(self), key)]
            if value is None:
                raise KeyError(key)
            return value
        return cast(str, self.table[key])

    def __setitem__(self, key: str, value: str) -> None:
        batch = CURRENT_BATCH.get()
        if batch is None:
            self.table[key] = value
        else:
            batch.write(self, key, value)

    def __delitem__(self, key: str) -> None:
        self[key]  # KeyError if it is not there
        batch = CURRENT_BATCH.get()
        if batch is None:
            del self.table[key]
        else:
            batch.write(self, key, None)

    def __iter__(self) -> Iterator[str]:
        batch = CURRENT_BATCH.get()
        if batch is None:
            return iter(list(self.table.keys()))
        mine = {key: value for (table, key), value in batch.overlay.items() if table == id(self)}
        keys = [k for k in self.table if k not in mine]
        return iter(keys + [k for k, value in mine.items() if value is not None])

    def __len__(self) -> int:
        return len(self.table)

    def items(self) -> Any:
        if CURRENT_BATCH.get() is None:
            return list(self.table.items())
        return super().items()

    async def apply(self, key: str, value: str | None) -> None:
        if value is None:
            self.table.pop(key, None)
        else:
            self.table[key] = value
