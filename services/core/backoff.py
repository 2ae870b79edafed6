"""Exponential backoff, capped: the one schedule every retry loop in handoff follows.

Pure: the caller sleeps (``time.sleep``, ``asyncio.sleep``, ``Event.wait``) and
supplies the randomness for jitter, so the schedule is testable without a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays start at ``initial_s`` and double up to ``max_s``."""

    initial_s: float
    max_s: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1 for the first failure)."""
        return float(min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1)))

    def jittered(self, attempt: int, rand: Callable[[], float]) -> float:
        """``delay`` scaled into its upper half by ``rand()`` in [0, 1): spreads retries."""
        return self.delay(attempt) * (0.5 + 0.5 * rand())


class Backoff:
    """A running schedule: ``next()`` after each failure, ``reset()`` after a success."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return self.policy.delay(self.failures)

    def reset(self) -> None:
        self.failures = 0
