"""The one backoff schedule: doubling, capped, reset by a success, jitter in the upper half."""

from __future__ import annotations

import pytest

from services.core.backoff import Backoff, BackoffPolicy

POLICY = BackoffPolicy(initial_s=0.5, max_s=10.0)


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0), (60, 10.0)],
)
def test_delay_doubles_up_to_the_cap(attempt: int, delay: float) -> None:
    assert POLICY.delay(attempt) == delay


@pytest.mark.parametrize(("rand", "delay"), [(0.0, 1.0), (0.5, 1.5), (0.999, 1.999)])
def test_jitter_stays_in_the_upper_half(rand: float, delay: float) -> None:
    assert POLICY.jittered(3, lambda: rand) == pytest.approx(delay)


def test_a_running_schedule_grows_and_resets() -> None:
    backoff = Backoff(POLICY)
    assert [backoff.next() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5
