"""Latency summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already-sorted values (q in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(values: Sequence[float]) -> LatencySummary:
    ordered = sorted(values)
    if not ordered:
        return LatencySummary(0, None, None, None, None)
    return LatencySummary(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=ordered[-1],
    )


# --- latency histograms: fixed log-spaced bins, mergeable, within 1.01 % -------------------

# Bin i holds (GROWTH**(i-1), GROWTH**i]: 1 % wide, so a value read from a bin is within
# 1.01 % of any value in it. A percentile from bins is the nearest-rank value's bin, read
# as the mean of that bin's values: within 1.01 % of the exact percentile, exact when the
# bin holds one distinct value. Values under ZERO_BELOW seconds count as 0.
GROWTH: Final = 1.01
ZERO_BELOW: Final = 1e-6
ZERO_BIN: Final = -(10**6)
_LOG_GROWTH: Final = math.log(GROWTH)

Bins = dict[int, tuple[int, float]]  # bin -> (count, sum of the values in it)


def bin_of(value: float) -> int:
    """The bin a latency (seconds) falls in."""
    if value < ZERO_BELOW:
        return ZERO_BIN
    return math.ceil(math.log(value) / _LOG_GROWTH - 1e-12)


def bin_bounds(index: int) -> tuple[float, float]:
    """The values bin ``index`` holds: (lower, upper]."""
    if index == ZERO_BIN:
        return (0.0, 0.0)
    return (GROWTH ** (index - 1), GROWTH**index)


def add_value(bins: Bins, value: float, sign: int = 1) -> None:
    """Count ``value`` into ``bins`` (``sign=-1``: take it out again)."""
    add_bin(bins, bin_of(value), sign, sign * value)


def add_bin(bins: Bins, index: int, count: int, total: float) -> None:
    """Add ``count`` values summing to ``total`` to bin ``index``; an emptied bin goes."""
    old_count, old_total = bins.get(index, (0, 0.0))
    if old_count + count == 0:
        bins.pop(index, None)
    else:
        bins[index] = (old_count + count, old_total + total)


def merge_bins(into: Bins, other: Bins, sign: int = 1) -> None:
    """Add (``sign=-1``: subtract) every bin of ``other`` to ``into``."""
    for index, (count, total) in other.items():
        add_bin(into, index, sign * count, sign * total)


def _reading(index: int, count: int, total: float) -> float:
    """A bin's value: the mean of its values, kept inside the bin against rounding."""
    low, high = bin_bounds(index)
    return min(max(total / count, low), high) if count > 0 else high


def summarize_bins(bins: Bins) -> LatencySummary:
    """Nearest-rank percentiles from bins (see GROWTH for the bound)."""
    ordered = sorted((i, c, t) for i, (c, t) in bins.items() if c > 0)
    count = sum(c for _, c, _ in ordered)
    if count == 0:
        return LatencySummary(0, None, None, None, None)
    p50, p90, p99 = (_rank_value(ordered, count, q) for q in (50, 90, 99))
    return LatencySummary(count, p50, p90, p99, _reading(*ordered[-1]))


def _rank_value(ordered: Sequence[tuple[int, int, float]], count: int, q: float) -> float:
    rank = max(1, math.ceil(q / 100 * count))
    seen = 0
    for index, bin_count, total in ordered:
        seen += bin_count
        if seen >= rank:
            return _reading(index, bin_count, total)
    return _reading(*ordered[-1])
