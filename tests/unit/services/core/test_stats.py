from __future__ import annotations

import random

import pytest

from services.core.stats import (
    GROWTH,
    ZERO_BIN,
    Bins,
    LatencySummary,
    add_value,
    bin_bounds,
    bin_of,
    merge_bins,
    percentile,
    summarize,
    summarize_bins,
)


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


# --- histograms: the figures' rollups --------------------------------------------------------


def _bins(values: list[float]) -> Bins:
    bins: Bins = {}
    for value in values:
        add_value(bins, value)
    return bins


@pytest.mark.parametrize("seed", range(8))
def test_percentiles_from_bins_are_within_2_percent_of_exact(seed: int) -> None:
    """Random latencies over eight orders of magnitude (ms to weeks), ties included."""
    rng = random.Random(seed)
    values = [rng.lognormvariate(rng.uniform(0, 8), rng.uniform(0.5, 3)) for _ in range(3000)]
    values += [round(rng.uniform(1, 10)) for _ in range(200)] + [0.0] * 5
    exact, found = summarize(values), summarize_bins(_bins(values))
    assert found.count == exact.count
    for name in ("p50", "p90", "p99", "max"):
        got, want = getattr(found, name), getattr(exact, name)
        assert abs(got - want) <= 0.0101 * want, name


def test_a_bin_with_one_distinct_value_reads_it_exactly() -> None:
    assert summarize_bins(_bins([660.0, 720.0, 0.06])) == summarize([660.0, 720.0, 0.06])


def test_taking_values_out_restores_the_bins() -> None:
    bins = _bins([1.0, 5.0, 5.0])
    add_value(bins, 5.0, -1)
    assert summarize_bins(bins) == summarize([1.0, 5.0])
    other = _bins([1.0, 5.0])
    merge_bins(bins, other, -1)
    assert bins == {}
    assert summarize_bins(bins).count == 0


def test_bins_are_one_percent_wide() -> None:
    for value in (0.001, 1.0, 3600.0, 1_209_600.0):
        low, high = bin_bounds(bin_of(value))
        assert low < value <= high
        assert high / low == pytest.approx(GROWTH)
    assert bin_of(0.0) == ZERO_BIN
