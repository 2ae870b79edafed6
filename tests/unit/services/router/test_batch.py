"""A batch's table writes: read back by its later events, applied only after its acks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.router.batch import CURRENT_BATCH as _CURRENT_BATCH
from services.router.batch import Batch as _Batch
from services.router.batch import BatchedTable as _BatchedTable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeEvent:
    """What a batch keeps of an event: the table writes go to its partition."""

    message = SimpleNamespace(topic="handoff.ingest.support", partition=0, offset=7)


async def test_a_batch_reads_its_own_writes_and_the_table_waits_for_the_apply() -> None:
    stored: dict[str, Any] = {"a": "1", "gone": "x"}
    table, batch = _BatchedTable(stored), _Batch()
    token = _CURRENT_BATCH.set(batch)
    try:
        batch.event = FakeEvent()  # type: ignore[assignment]
        table["a"] = "2"
        table["b"] = "new"
        del table["gone"]
        assert (table["a"], table.get("b"), table.get("gone")) == ("2", "new", None)
        assert sorted(table) == ["a", "b"]
        assert stored == {"a": "1", "gone": "x"}  # nothing written before the acks
    finally:
        _CURRENT_BATCH.reset(token)
    assert table.get("b") is None  # outside the batch: the table as it is
    await batch.apply()
    assert stored == {"a": "2", "b": "new"}


async def test_undo_forgets_what_a_failed_event_produced() -> None:
    stored: dict[str, Any] = {"a": "1"}
    table, batch = _BatchedTable(stored), _Batch()
    token = _CURRENT_BATCH.set(batch)
    try:
        batch.event = FakeEvent()  # type: ignore[assignment]
        table["a"] = "first event"
        batch.sends.append(("topic", b"k", b"first"))  # type: ignore[arg-type]
        mark = batch.mark()
        table["a"] = "half of the second"
        table["c"] = "half"
        batch.sends.append(("topic", b"k", b"second"))  # type: ignore[arg-type]
        batch.undo(mark)
        assert (table["a"], table.get("c")) == ("first event", None)
        assert [value for _, _, value in batch.sends] == [b"first"]
    finally:
        _CURRENT_BATCH.reset(token)
    await batch.apply()
    assert stored == {"a": "first event"}


def test_outside_a_batch_writes_go_straight_to_the_table() -> None:
    stored: dict[str, Any] = {}
    table = _BatchedTable(stored)
    table["k"] = "v"
    assert stored == {"k": "v"}
    del table["k"]
    assert stored == {}
    with pytest.raises(KeyError):
        del table["k"]
