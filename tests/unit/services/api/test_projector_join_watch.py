"""``JoinWatch``: a group join that never ends is said, then given up for a new consumer.

Seen four times in CI and chaos runs (issue 10): the projector's kafka-python consumer got
no partitions and said nothing; the last time, CI's test waited 60 s while the bound was
120 s, so the bound is now 30 s and both messages say where the join stood. The rules
here, against a consumer that only answers ``assignment`` and carries a coordinator's
``state`` as kafka-python's does; the real broker's normal join is every projector test
in tests/integration."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest
from kafka.structs import MemberState, TopicPartition

from services.api.consumer import JoinStalledError, JoinWatch


@dataclass
class Coordinator:
    state: str = MemberState.UNJOINED
    coordinator_id: int | None = 1
    rejoin_needed: bool = True


@dataclass
class Consumer:
    assigned: set[TopicPartition] = field(default_factory=set)
    _coordinator: Coordinator = field(default_factory=Coordinator)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def watch(clock: Clock) -> JoinWatch:
    return JoinWatch("handoff-api", warn_s=30.0, limit_s=120.0, clock=clock)


def test_the_default_bounds_end_a_stalled_join_within_a_test_s_wait() -> None:
    """Integration tests wait 60 s for a projected task; a stalled join is replaced before."""
    joining = JoinWatch("handoff-api")
    assert joining.warn_s < joining.limit_s <= 30.0


def test_a_join_that_never_ends_is_warned_of_once_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, consumer = Clock(), Consumer()
    joining = watch(clock)
    with caplog.at_level(logging.WARNING, logger="services.api.consumer"):
        for step in range(0, 120, 5):
            clock.now = 100.0 + step
            joining.check(consumer)
        clock.now = 220.0
        with pytest.raises(JoinStalledError, match="handoff-api: no partitions after 120 s") as e:
            joining.check(consumer)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "no partitions for 30 s" in warnings[0]
    where = "state <unjoined>, coordinator 1, generation ?, member ?, rejoin needed True"
    assert where in warnings[0]
    assert where in str(e.value)


def test_partitions_or_a_stable_membership_restart_the_count() -> None:
    clock, consumer = Clock(), Consumer()
    joining = watch(clock)
    joining.check(consumer)
    clock.now += 100
    consumer.assigned = {TopicPartition("handoff.routed", 0)}
    joining.check(consumer)  # joined: the wait is over
    consumer.assigned = set()  # revoked by a rebalance
    clock.now += 10
    joining.check(consumer)
    clock.now += 100
    joining.check(consumer)  # 100 s since the revoke, not 210 s since the start
    clock.now += 25
    with pytest.raises(JoinStalledError):
        joining.check(consumer)


def test_a_member_without_partitions_is_not_stalled() -> None:
    """More API replicas than partitions: in the group, with nothing to read."""
    clock, consumer = Clock(), Consumer(_coordinator=Coordinator(MemberState.STABLE))
    joining = watch(clock)
    for _ in range(10):
        joining.check(consumer)
        clock.now += 60
