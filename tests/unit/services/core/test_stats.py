from __future__ import annotations

import pytest

from services.core.stats import LatencySummary, percentile, summarize


def test_empty_summary_has_count_zero() -> None:
    assert summarize([]) == LatencySummary(0, None, None, None, None)


def test_summary_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert summarize(values) == LatencySummary(100, 50.0, 90.0, 99.0, 100.0)


@pytest.mark.parametrize(("q", "expected"), [(0, 7.0), (50, 7.0), (51, 9.0), (100, 9.0)])
def test_percentile_of_two(q: float, expected: float) -> None:
    assert percentile([7.0, 9.0], q) == expected


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
