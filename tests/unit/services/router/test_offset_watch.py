"""``OffsetWatch``: a partition's offsets that skip forward are said (the diagnostic for an
event handed to no one, issue 10); going back (a rebalance's seek) is not a skip."""

from __future__ import annotations

import logging

import pytest

from services.router.seeking import OffsetWatch


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
