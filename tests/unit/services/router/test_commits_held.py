"""Only events an agent handled are committed (``services.router.consuming``, issue 10).

The second loss of the kill -9 scenario after ``InOrder``: ``groups[0]@216``. The worker
that had just taken the partition over handled 217 first, alone, right after its flow
resumed; 216 never reached the group stage and its two later copies (marked ``again``)
were dropped there. Faust's stream skips an event that reaches it while the flow is
paused (or of an older generation) and acknowledges it; and Faust's consumer commits past
one event not acknowledged at a partition's head (``min(acked) - committed > 1``). These
tests run Faust's own ``Message.ack`` -> ``Consumer.ack`` and ``_new_offset`` of the
router app's consumer; only the acknowledgements are made here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.events import Event
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from schemas import topics
from services.router.consuming import handled, order_of, taken
from tests.unit.services.router.conftest import INTERNAL_AGENTS, Router

pytestmark = pytest.mark.anyio
GROUPS = TP(next(name for name in INTERNAL_AGENTS if name.endswith("-groups")), 0)


def message(tp: TP, offset: int, generation: int = 0) -> ConsumerMessage:
    made = ConsumerMessage(
        tp.topic, tp.partition, offset, 0.0, 0, [], b"k", b"{}", None, 1, 2, tp,
        generation_id=generation,
    )  # fmt: skip
    made.refcount = 1  # one stream holds it
    return made


def taken_over(router: Router, committed: int) -> Any:
    """The consumer after a takeover's seek: ``committed`` is where the partition resumes."""
    consumer = router.app.consumer
    router.app.topics._acking_topics.add(GROUPS.topic)  # as the worker's subscription does
    consumer._committed_offset[GROUPS] = committed
    return consumer


def test_faust_skipping_an_event_does_not_acknowledge_it_and_it_is_read_again(
    router: Router,
) -> None:
    consumer = taken_over(router, 216)
    skipped = message(GROUPS, 216)

    consumer._unacked_messages.add(skipped)  # read by the stream
    assert skipped.ack(consumer) is False  # Faust's stream, flow paused: "ack" it anyway
    assert skipped not in consumer._unacked_messages  # a rebalance does not wait for it
    with handled():
        for offset in (217, 218):
            assert message(GROUPS, offset).ack(consumer) is True

    assert sorted(consumer._acked[GROUPS]) == [217, 218]
    assert consumer._new_offset(GROUPS) is None  # not past 216
    with handled():
        assert message(GROUPS, 216).ack(consumer) is True  # read again, handled
    assert consumer._new_offset(GROUPS) == 219


def test_faust_alone_commits_past_the_one_event_not_acknowledged(router: Router) -> None:
    """Why the guard exists: should Faust hold its commit there one day, this fails."""
    consumer = taken_over(router, 216)
    with handled():
        for offset in (217, 218):
            message(GROUPS, offset).ack(consumer)

    assert type(consumer)._new_offset(consumer, GROUPS) == 219  # 216 never handled


def test_other_topics_are_acknowledged_as_faust_does(router: Router) -> None:
    consumer = router.app.consumer
    router.app.topics._acking_topics.add(topics.ROUTED)  # no agent of the router reads it
    routed = TP(topics.ROUTED, 1)

    assert message(routed, 7).ack(consumer) is True  # outside ``handled``, as Faust's

    assert consumer._acked[routed] == [7]


async def test_faust_stream_skips_an_event_of_an_older_generation_and_it_is_read_again(
    router: Router,
) -> None:
    """Faust's own ``Stream`` (an agent's, without acks) skips an event fetched before the
    last rebalance (or while one pauses the flow) and hands the agent the next one: the
    agent does not handle that one, and the partition is read again from the skipped one
    (``InOrder.received``); nothing of it is acknowledged meanwhile."""
    app = router.app
    consumer = taken_over(router, 216)
    order = order_of(consumer)
    order.sought(GROUPS, 216)  # the takeover's seek to the committed offset
    app.consumer_generation_id = 6
    app.flow_control.resume()  # the worker's flow runs
    channel = app.channel()
    stream = app.stream(channel).noack()
    skipped, later = message(GROUPS, 216, generation=5), message(GROUPS, 217, generation=6)

    await channel.put(Event(app, b"k", b"{}", {}, skipped))
    await channel.put(Event(app, b"k", b"{}", {}, later))
    event = await asyncio.wait_for(anext(aiter(stream.events())), timeout=5)

    assert event.message.offset == 217  # 216 was skipped
    assert consumer._acked[GROUPS] == []  # and not acknowledged
    assert event.message in consumer._unacked_messages  # read: a rebalance would wait
    assert taken(consumer, order, event.message) is False  # not handled before 216
    assert event.message not in consumer._unacked_messages  # nor waited for
    assert order.pending() == [(GROUPS, 216)]  # the reader seeks back there
    assert order.received(GROUPS, 216) is True  # read again: in order
    assert order.received(GROUPS, 217) is True
