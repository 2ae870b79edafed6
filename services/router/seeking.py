"""Seek to the committed offset even when it is 0 or there is none: nothing fetched is skipped.

When a worker gets partitions (a takeover after a crash, a restart), Faust
restores the tables and then "seeks stream partitions to committed offsets"
through aiokafka's ``seek_to_committed``. That seek is skipped for a
partition whose committed offset is 0 (``if offset and offset > 0``,
https://github.com/aio-libs/aiokafka/issues/1003) or that the group never
committed (None), and Faust then also treats 0 as "nothing committed".
Records fetched between the assignment and that seek (and dropped by Faust
while the flow was suspended for the recovery) have already moved the
position: with a real committed offset the seek rewinds it; with 0 or None
the worker resumes past them, and its next commit covers events nobody
handled -- consumed, never routed, never dead-lettered. A partition taken over
before the group's first commit on it is exactly that case (a new group's
inputs pinned at an empty end, the router's own topics before their first
commit). So after Faust's seek, each stream partition with 0 or no committed
offset is sought to where the app's policy (``earliest``) says it starts: 0,
or the partition's first offset. Table changelogs are left alone (Faust reads
them itself). No Faust here: the app hands in its consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Seeker(Protocol):
    """What is used of Faust's consumer."""

    async def seek(self, partition: Any, offset: int) -> None: ...

    async def earliest_offsets(self, *partitions: Any) -> Mapping[Any, int]: ...


def unpositioned(committed: Mapping[Any, int | None], streams: Collection[str]) -> list[Any]:
    """The stream partitions aiokafka did not seek: committed 0, or never committed."""
    return [tp for tp, offset in committed.items() if tp.topic in streams and not offset]


async def rewind(
    consumer: Seeker, committed: Mapping[Any, int | None], streams: Collection[str]
) -> dict[Any, int]:
    """Seek each unpositioned stream partition to its start; where each went."""
    missing = unpositioned(committed, streams)
    never = [tp for tp in missing if committed[tp] is None]
    starts = dict(await consumer.earliest_offsets(*never)) if never else {}
    targets = {tp: starts.get(tp, 0) if committed[tp] is None else 0 for tp in missing}
    for tp, offset in targets.items():
        await consumer.seek(tp, offset)
    if targets:
        where = sorted(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in targets.items())
        log.info("router: uncommitted partitions start at their start: %s", where)
    return targets


class OffsetWatch:
    """Says when a partition's next event is not the one after the last (a diagnostic).

    Going back is a rebalance's seek to the committed offset (events handled again, with
    the same ids). Going forward skips offsets: legitimate only when another worker owned
    the partition in between. Otherwise those events were never handed to the router, as
    when a record fetched before a rebalance's seek arrives after it (faust-streaming #221):
    Faust moves its read offset past the committed one and drops the refetched records
    below it; one record missing does not stop its commit (``min(acked) - committed > 1``),
    so that record is never read again. Issue 10's open loss, seen as "54 follows 52"."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], int] = {}
        self.skipped = 0  # offsets skipped forward, in all (tests)

    def seen(self, topic: str, partition: int, offset: int) -> None:
        last = self._last.get((topic, partition))
        self._last[(topic, partition)] = offset
        if last is None or offset == last + 1:
            return
        if offset > last + 1:
            self.skipped += offset - last - 1
            log.warning(
                "%s[%d]: offset %d follows %d: %d offsets skipped (lost unless another worker "
                "owned the partition meanwhile)", topic, partition, offset, last, offset - last - 1,
            )  # fmt: skip
        else:
            log.info("%s[%d]: offset %d follows %d: read again", topic, partition, offset, last)
