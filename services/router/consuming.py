"""The router's Faust consumer: sought fully, read in order, committed only when handled.

``install`` puts on Faust's consumer: the rewind of partitions committed at 0 or never
(``seeking.rewind``), records handed over in offset order (``seeking.InOrder``), and
the guard of commits below.

Only events an agent handled are committed; an event Faust skipped is read again.

Faust's stream skips an event that reaches it while a rebalance pauses the app's flow,
or that was fetched in the generation before; its Cython iterator does not acknowledge
it, its Python one does ("so the lag does not grow"). And Faust's consumer commits a
partition past one event not acknowledged at its head (its check is ``min(acked) -
committed > 1``). Issue 10's kill -9 scenario lost ``groups[0]@216`` so: a worker that
had just taken the partition over skipped it while its flow was still paused for the
seek to the committed offsets, handled 217 first, and committed past 216; the group
stage then dropped its later copies (marked ``again``).

So an agent takes each partition's events in order from where it was sought
(``InOrder.received``): after one skipped, the partition is read again from it; the
agents acknowledge inside :func:`handled`, and an acknowledgement of a stream event
outside it (the Python iterator's, of a skipped event) is refused; and a partition's
commit never goes past its first offset not acknowledged. No Faust here: the app hands
in its consumer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

from aiokafka.errors import IllegalStateError

from services.router.seeking import HAND, SEEK, InOrder, rewind

log = logging.getLogger(__name__)
_ORDERS: WeakKeyDictionary[Any, InOrder] = WeakKeyDictionary()  # per consumer: ``order_of``
_HANDLED: ContextVar[bool] = ContextVar("handoff_router_handled", default=False)


def install(consumer: Any, streams: Collection[str], order: InOrder | None = None) -> InOrder:
    """Route Faust's consumer's seeks, fetches and commits as the module says."""
    order = order or InOrder(streams)
    seek_to_committed, seek_wait, getmany = (
        consumer.seek_to_committed,
        consumer.seek_wait,
        consumer.getmany,
    )

    async def seek(tp: Any, offset: int) -> None:
        """In the consumer's own thread (Faust's ``seek`` calls aiokafka from this one,
        which wakes the fetcher's loop from the wrong thread), its read offset too."""
        await seek_wait({tp: offset})

    async def seek_back(tp: Any, offset: int) -> None:
        try:
            await seek(tp, offset)
        except IllegalStateError:  # not this worker's any more: its next owner reads it
            log.info("%s[%d]: not assigned, not sought back", tp.topic, tp.partition)

    async def seek_noted(tp: Any, offset: int) -> None:
        await seek(tp, offset)
        order.sought(tp, offset)

    async def seek_fully() -> Any:
        committed = await seek_to_committed()
        for tp, offset in committed.items():
            if offset:  # 0 and None: ``rewind`` seeks them, through ``seek_noted``
                order.sought(tp, offset)
        await rewind(consumer, committed, streams)
        return committed

    async def getmany_in_order(timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        order.stuck()  # records handed over that never reached an agent: read again
        for tp, offset in order.pending():  # events skipped by Faust's stream: again
            await seek_back(tp, offset)
        async for tp, message in getmany(timeout):
            due = order.due(tp)
            verdict = order.admit(tp, message.offset)
            if verdict == HAND:
                if due is not None and message.offset > due:  # given up on: not in the log
                    absent(consumer, tp, range(due, message.offset))
                yield tp, message
            elif verdict == SEEK and due is not None:  # due: held back only after a seek
                await seek_back(tp, due)

    consumer.seek_to_committed = seek_fully
    consumer.seek = seek_noted
    consumer.getmany = getmany_in_order
    guard(consumer, streams, order)
    _ORDERS[consumer] = order
    return order


def order_of(consumer: Any) -> InOrder:
    """The ``InOrder`` installed on ``consumer`` (tests, diagnostics)."""
    return _ORDERS[consumer]


def taken(consumer: Any, order: InOrder, message: Any) -> bool:
    """Whether an agent is to handle ``message`` (``InOrder.received``). One it is not to
    is not waited for: a rebalance waits until every message read is acknowledged
    (``wait_empty``), and this one will not be (it comes again)."""
    if order.received(message.tp, message.offset):
        return True
    consumer._unacked_messages.discard(message)
    return False


@contextmanager
def handled() -> Iterator[None]:
    """Acknowledgements made inside are an agent's: its events were handled."""
    token = _HANDLED.set(True)
    try:
        yield
    finally:
        _HANDLED.reset(token)


def guard(consumer: Any, streams: Collection[str], order: InOrder) -> None:
    """Refuse Faust's own acknowledgements of stream events, and hold commits at the first
    event not acknowledged (Faust's consumer's ``ack`` and ``_new_offset``)."""
    ack, new_offset = consumer.ack, consumer._new_offset

    def ack_if_handled(message: Any) -> bool:
        if message.topic in streams and not _HANDLED.get():
            consumer._unacked_messages.discard(message)  # a rebalance waits for no handling
            if order.missed(message.tp, message.offset):
                log.warning(
                    "%s[%d]: offset %d skipped by Faust's stream (a rebalance) and not "
                    "acknowledged: read again from it", message.topic, message.partition,
                    message.offset,
                )  # fmt: skip
            return False
        return bool(ack(message))

    def new_offset_held(tp: Any) -> int | None:
        acked = consumer._acked.get(tp)
        if acked and tp.topic in streams:
            floor = consumer._committed_offset.get(tp)
            floor = order.floor(tp) if floor is None else floor
            if floor is not None and min(acked) > floor:
                return None  # the event at ``floor`` is not acknowledged yet
        result: int | None = new_offset(tp)
        return result

    consumer.ack = ack_if_handled
    consumer._new_offset = new_offset_held


def absent(consumer: Any, tp: Any, offsets: Iterable[int]) -> None:
    """Offsets not in the log (``InOrder`` gave up on them) count as acknowledged."""
    acked, index = consumer._acked[tp], consumer._acked_index[tp]
    for offset in offsets:
        if offset not in index:
            index.add(offset)
            acked.append(offset)
