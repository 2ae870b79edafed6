"""One event through one handler: decode, decide, send, write; what fails is parked.

A handler is ``(key, value) -> Handled``: the outcome, the sends and the table
writes it wants. The pipeline performs them inside the current batch (see
``services.router.batch``) and acknowledges nothing itself: the app acks a
batch's events once their sends were acknowledged and their writes applied.
A message that can never be processed (an ``InvalidMessageError``), or that hits
a bug, goes to the dead-letter topic with the reason instead of stopping the
partition. No Faust here.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from services.core.errors import InvalidMessageError
from services.router import metrics as outcomes
from services.router.batch import CURRENT_BATCH, ApplyWrite, Batch, Send
from services.router.metrics import RouterMetrics
from services.router.sender import Consumed, Sender

log = logging.getLogger(__name__)
_T = TypeVar("_T")
Write = tuple[MutableMapping[str, str], str, "str | None"]  # table, key, value (None: delete)


class Handled(NamedTuple):
    outcome: str
    sends: Sequence[Send] = ()
    writes: Sequence[Write] = ()


Handler = Callable[[bytes | None, bytes | None], Handled]


class Retry(Protocol):
    """Runs an attempt until the worker's metadata allows it (the app's, around Faust)."""

    def __call__(self, attempt: Callable[[], Awaitable[_T]], where: str) -> Awaitable[_T]: ...


async def run_once(attempt: Callable[[], Awaitable[_T]], where: str) -> _T:
    return await attempt()


@dataclass(frozen=True)
class Pipeline:
    sender: Sender
    metrics: RouterMetrics
    retry: Retry = run_once
    apply_write: ApplyWrite | None = None

    async def handle_batch(self, events: Sequence[Any], handler: Handler) -> list[str]:
        """Handle events in order as one batch: their sends go out together and, once all
        are acknowledged, their table writes are applied (a crash before re-handles them,
        re-sending the same ids)."""
        batch = Batch(self.apply_write) if self.apply_write else Batch()
        token = CURRENT_BATCH.set(batch)
        try:
            handled = [await self.guarded(event, handler) for event in events]
        finally:
            CURRENT_BATCH.reset(token)
        await self.sender.send_acked(batch.sends)
        await batch.apply()
        return handled

    async def guarded(self, event: Any, handler: Handler) -> str:
        """The event's outcome; never raises for a bad message."""
        started = time.perf_counter()
        record = consumed(event)
        batch = CURRENT_BATCH.get()
        mark = batch.mark() if batch is not None else None
        if batch is not None:
            batch.event = event
        try:
            outcome = await self.retry(
                functools.partial(self._handle, record, handler), record.where()
            )
        except InvalidMessageError as exc:
            _undo(batch, mark)  # nothing of a refused event goes out
            outcome = await self._park(record, exc.reason, exc.error_type)
        except Exception as exc:  # a bug must park the message, not stop the partition
            log.exception("unexpected error handling %s", record.where())
            _undo(batch, mark)
            reason = f"unexpected error in the router: {exc!r}"
            outcome = await self._park(record, reason, type(exc).__name__)
        if outcome in outcomes.OUTCOMES:
            self.metrics.events.labels(outcome).inc()
        self.metrics.processing.observe(time.perf_counter() - started)
        return outcome

    async def _handle(self, record: Consumed, handler: Handler) -> str:
        handled = handler(record.key, record.value)
        for table, key, value in handled.writes:
            if value is None:
                del table[key]
            else:
                table[key] = value
        await self.sender.send_acked(handled.sends)
        return handled.outcome

    async def _park(self, record: Consumed, reason: str, error_type: str) -> str:
        await self.sender.dead_letter(record, reason, error_type)
        self.metrics.dead_lettered(error_type)
        return outcomes.DEAD_LETTERED


def _undo(batch: Batch | None, mark: tuple[int, int] | None) -> None:
    if batch is not None and mark is not None:
        batch.undo(mark)


def consumed(event: Any) -> Consumed:
    """What the router keeps of a consumed event: where it was, its key and value as bytes."""
    message = event.message
    key, value = as_bytes(event.key), as_bytes(event.value)
    return Consumed(message.topic, message.partition, message.offset, key, value)


def as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def as_str(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", errors="replace")
