"""Faust's consumer sought where it should be, and handing records over in offset order.

``rewind``: seek to the committed offset even when it is 0 or there is none.

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
them itself).

``InOrder``: a record fetched before a seek and arriving after it is held back
rather than moving Faust past the records the seek is for; and an agent takes
each partition's records in order (see the class). ``consuming.install`` puts
both on Faust's consumer. No Faust here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

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


Verdict = Literal["hand", "drop", "seek"]
HAND: Final = "hand"  # the partition's next record: to Faust
DROP: Final = "drop"  # not the next one: held back
SEEK: Final = "seek"  # held back, and the partition is sought to the next one again


@dataclass
class _Hold:
    since: float  # the first record held back since the last one handed over
    sought: float  # the last seek back to the record due


class InOrder:
    """Hands Faust each stream partition's records in offset order from where it was sought.

    Faust takes any record at or after its "read offset" and moves that offset to it. A
    record fetched before a rebalance's seek can arrive after it (faust-streaming #221):
    seen in issue 10's kill -9 scenario as ``support[2]`` sought to 0 and then handed 54,
    so Faust dropped the refetched 0-53 as already read, and 53, never handled, was
    committed past. So each stream partition's next offset is kept here (set by every
    seek, moved by every record handed over): a record after it is held back and the
    partition sought to it again (every ``reseek_every`` seconds while that lasts); a
    record before it was handed over already. Offsets truly absent from the log
    (retention, transaction markers) would hold a partition for ever: after
    ``give_up_after`` seconds with nothing handed, the record at hand goes over, with a
    warning. Other topics (the tables' changelogs) are Faust's business."""

    def __init__(
        self,
        streams: Collection[str],
        *,
        reseek_every: float = 2.0,
        give_up_after: float = 10.0,
        stuck_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._streams = streams
        self._reseek_every, self._give_up_after, self._clock = reseek_every, give_up_after, clock
        self._stuck_after = stuck_after
        self._taken_at: dict[Any, float] = {}  # when an agent last got one (or it was sought)
        self._next: dict[Any, int] = {}
        self._sought: dict[Any, int] = {}
        self._held: dict[Any, _Hold] = {}
        self._pending: dict[Any, int] = {}
        self._taken: dict[Any, int] = {}  # the next offset an agent is to get
        self.held_back = 0  # records held back, in all (tests, logs)
        self.given_up = 0  # times a partition's due record never came
        self.missed_events = 0  # records handed over but not handled: read again

    def sought(self, tp: Any, offset: int) -> None:
        """A seek: the partition's next record is at ``offset``."""
        if tp.topic in self._streams:
            self._next[tp] = self._sought[tp] = self._taken[tp] = offset
            self._taken_at[tp] = self._clock()
            self._held.pop(tp, None)
            self._pending.pop(tp, None)

    def floor(self, tp: Any) -> int | None:
        """Where the partition was last sought (None: not yet)."""
        return self._sought.get(tp)

    def missed(self, tp: Any, offset: int) -> bool:
        """The record at ``offset`` was handed over but not handled: read again from it
        (a seek there is pending, see :meth:`pending`); whether that moved the partition
        back (not when an earlier record of it was missed already)."""
        if tp.topic not in self._streams:
            return False
        self.missed_events += 1
        self._pending[tp] = min(offset, self._pending.get(tp, offset))
        self._taken[tp] = min(offset, self._taken.get(tp, offset))
        due = self._next.get(tp)
        if due is not None and offset >= due:
            return False
        self._next[tp] = offset
        self._held.pop(tp, None)
        return True

    def received(self, tp: Any, offset: int) -> bool:
        """Whether an agent is to handle the record at ``offset`` (its stream's next).

        Faust's stream skips a record that reaches it during a rebalance (flow paused, or
        fetched in an older generation) and its Cython iterator does not acknowledge it,
        but Faust commits past one record not acknowledged (``consuming``). So a record
        after the one due is not handled: the partition is read again from the one
        missing (:meth:`missed`), and this one comes again after it, in order."""
        if tp.topic not in self._streams:
            return True
        taken = self._taken.get(tp)
        if taken is None:  # not sought yet: no order known (Faust always seeks first)
            return True
        if offset == taken:
            self._taken[tp] = offset + 1
            self._taken_at[tp] = self._clock()
            return True
        if offset < taken:  # handed to an agent before a seek back: it is coming again
            return False
        if self.missed(tp, taken):
            log.warning(
                "%s[%d]: offset %d came to the agent where %d was due (skipped by Faust's "
                "stream in a rebalance): read again from %d", tp.topic, tp.partition, offset,
                taken, taken,
            )  # fmt: skip
        return False

    def pending(self) -> list[tuple[Any, int]]:
        """The seeks :meth:`missed` asked for, once each."""
        found, self._pending = list(self._pending.items()), {}
        return found

    def due(self, tp: Any) -> int | None:
        """The offset of the partition's next record (None: not sought yet)."""
        return self._next.get(tp)

    def admit(self, tp: Any, offset: int) -> Verdict:
        """Whether the record at ``offset`` goes to Faust."""
        if tp.topic not in self._streams:
            return HAND
        due = self._next.get(tp)
        if due is None or offset == due:
            return self._hand(tp, offset)
        now = self._clock()
        hold = self._held.get(tp)
        if hold is None:
            hold = self._held[tp] = _Hold(since=now, sought=float("-inf"))
        elif now - hold.since >= self._give_up_after:
            log.warning(
                "%s[%d]: offset %d due, offset %d fetched again and again for %.0f s: handed "
                "over (offsets absent from the log?)", tp.topic, tp.partition, due, offset,
                now - hold.since,
            )  # fmt: skip
            self.given_up += 1
            return self._hand(tp, offset)
        self.held_back += 1
        if offset < due or now - hold.sought < self._reseek_every:
            return DROP
        hold.sought = now
        self._pending.pop(tp, None)  # this seek goes back far enough
        log.warning(
            "%s[%d]: offset %d came where %d was due (fetched before a seek): held back, "
            "sought to %d again", tp.topic, tp.partition, offset, due, due,
        )  # fmt: skip
        return SEEK

    def stuck(self) -> list[Any]:
        """Partitions whose records were handed over but none reached the agent for
        ``stuck_after`` seconds: the last ones were skipped by Faust's stream and no later
        one came to show it (:meth:`received`). Each is read again from the one due
        (:meth:`missed`); when the agent was only slow, the records come twice and the
        second time are not taken."""
        now, found = self._clock(), []
        for tp, taken in self._taken.items():
            due = self._next.get(tp)
            if due is None or due <= taken or now - self._taken_at.get(tp, now) < self._stuck_after:
                continue
            self._taken_at[tp] = now
            if self.missed(tp, taken):
                found.append(tp)
                log.warning(
                    "%s[%d]: offsets %d-%d handed over, none at the agent for %.0f s (skipped "
                    "by Faust's stream in a rebalance?): read again from %d", tp.topic,
                    tp.partition, taken, due - 1, self._stuck_after, taken,
                )  # fmt: skip
        return found

    def _hand(self, tp: Any, offset: int) -> Verdict:
        self._next[tp] = offset + 1
        if self._held:
            self._held.pop(tp, None)
        return HAND
