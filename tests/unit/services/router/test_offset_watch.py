"""``OffsetWatch``: a partition's offsets that skip forward are said (the diagnostic for an
event handed to no one, issue 10); going back (a rebalance's seek) is not a skip.
``Positions``: after a seek, a partition is held where it was sought until that event
comes, so a record fetched before the seek cannot make Faust drop the ones before it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from services.router.seeking import MAX_SOUGHT_BACK, OffsetWatch, Positions


def test_consecutive_offsets_and_a_seek_back_say_nothing_of_a_skip(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = OffsetWatch()
    with caplog.at_level(logging.INFO, logger="services.router.seeking"):
        for offset in (0, 1, 2, 3, 1, 2, 3, 4):  # a rebalance seeks back to 1
            watch.seen("handoff.ingest.support", 0, offset)
        watch.seen("handoff.ingest.support", 1, 7)  # another partition's first
    assert watch.skipped == 0
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "offset 1 follows 3: read again" in caplog.records[0].getMessage()


def test_offsets_skipped_forward_are_counted_and_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = OffsetWatch()
    with caplog.at_level(logging.WARNING, logger="services.router.seeking"):
        for offset in (10, 11, 14, 15):
            watch.seen("handoff.ingest.sales", 2, offset)
    assert watch.skipped == 2
    [warning] = caplog.records
    assert (
        "handoff.ingest.sales[2]: offset 14 follows 11: 2 offsets skipped" in warning.getMessage()
    )


# --- Positions: a partition held where it was sought, until it gets there ----------------


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


def test_an_event_fetched_before_the_seek_is_refused_until_the_sought_one_comes() -> None:
    """Rehearsal 24's loss, replayed: committed 53; a record fetched before the rebalance
    (54) arrives first and would make Faust drop 53; it is refused and the partition sought
    back to 53; then 53, 54 come in order."""
    positions = Positions(compacted={"handoff.accounts"})
    positions.sought({TP("handoff.ingest.support", 2): 53, TP("handoff.ingest.support", 0): 56})

    assert positions.admit("handoff.ingest.support", 2, 54) == 53
    assert positions.admit("handoff.ingest.support", 2, 55) == 53  # still early
    assert positions.admit("handoff.ingest.support", 2, 53) is None  # the one sought
    assert positions.admit("handoff.ingest.support", 2, 54) is None  # in order from here
    assert positions.admit("handoff.ingest.support", 2, 60) is None  # not held any more
    assert positions.admit("handoff.ingest.support", 0, 56) is None
    assert positions.sought_back == 2


def test_compacted_topics_and_unsought_partitions_are_not_held() -> None:
    positions = Positions(compacted={"handoff.accounts"})
    positions.sought({TP("handoff.accounts", 1): 10, TP("handoff.ingest.sales", 3): None})
    assert positions.admit("handoff.accounts", 1, 40) is None  # compaction leaves gaps
    assert positions.admit("handoff.ingest.sales", 3, 7) is None  # no offset sought
    assert positions.admit("handoff.ingest.sales", 1, 9) is None  # never sought


def test_an_offset_that_never_comes_is_given_up_after_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Records gone below the sought offset (retention): holding on would stall for ever."""
    positions = Positions(compacted=())
    positions.sought({TP("handoff.ingest.support", 1): 5})
    for _ in range(MAX_SOUGHT_BACK):
        assert positions.admit("handoff.ingest.support", 1, 900) == 5
    with caplog.at_level(logging.ERROR, logger="services.router.seeking"):
        assert positions.admit("handoff.ingest.support", 1, 900) is None
    assert "offset 5 never came; going on from 900" in caplog.records[-1].getMessage()


def test_a_new_seek_holds_the_partition_again() -> None:
    positions = Positions(compacted=())
    positions.sought({TP("t", 0): 5})
    assert positions.admit("t", 0, 5) is None
    positions.sought({TP("t", 0): 3})  # the next rebalance
    assert positions.admit("t", 0, 9) == 3
    assert positions.admit("t", 0, 3) is None
