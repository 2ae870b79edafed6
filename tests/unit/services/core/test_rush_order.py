"""A rush order checked, held and answered in one step, table-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.core.capacity import (
    CapacityUpdate,
    Hold,
    LineCapacity,
    RushAnswer,
    RushOrder,
    answer_rush_order,
    apply_update,
    place_hold,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EXPIRY = timedelta(hours=48)
D1, D2, D3 = date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)


def line(free: dict[date, int]) -> LineCapacity:
    return apply_update(None, CapacityUpdate("widgets", NOW - timedelta(hours=1), free))


def order(quantity: int, due: date = D2, hold_id: str = "h1") -> RushOrder:
    return RushOrder(hold_id, "widgets", quantity, due, "t1")


def hold(
    allocations: dict[date, int], hold_id: str = "h1", expires: datetime = NOW + EXPIRY
) -> Hold:
    return Hold(hold_id, "widgets", allocations, expires, "t1")


OPEN = line({D1: 300, D2: 300, D3: 500})
HELD = place_hold(OPEN, hold({D1: 300, D2: 200}), now=NOW)
OTHERS = place_hold(OPEN, hold({D1: 300, D2: 300}, "h0", NOW + timedelta(minutes=5)), now=NOW)
LATE = NOW + timedelta(minutes=10)
EXPIRED = place_hold(OPEN, hold({D1: 300, D2: 300}, "h0", LATE), now=NOW)

ROWS: list[
    tuple[str, LineCapacity | None, RushOrder, datetime, LineCapacity | None, RushAnswer]
] = [
    # name, line state, order, now, new state, answer
    ("unknown line", None, order(100), NOW, None, RushAnswer(False, None)),
    (
        "feasible: held",
        OPEN,
        order(500),
        NOW,
        HELD,
        RushAnswer(True, D2, hold({D1: 300, D2: 200})),
    ),
    ("redelivered: answered from its hold", HELD, order(500), NOW, HELD, RushAnswer(True, D2)),
    ("infeasible by the due date, later", OPEN, order(800), NOW, OPEN, RushAnswer(False, D3)),
    ("never feasible", OPEN, order(5000), NOW, OPEN, RushAnswer(False, None)),
    ("another hold takes the units", OTHERS, order(500), NOW, OTHERS, RushAnswer(False, D3)),
    (
        "an expired hold frees them",
        EXPIRED,
        order(500),
        LATE,
        place_hold(OPEN, hold({D1: 300, D2: 200}, expires=LATE + EXPIRY), now=LATE),
        RushAnswer(True, D2, hold({D1: 300, D2: 200}, expires=LATE + EXPIRY)),
    ),
]


@pytest.mark.parametrize(
    ("state", "rush", "now", "new", "answer"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_answer_rush_order(
    state: LineCapacity | None,
    rush: RushOrder,
    now: datetime,
    new: LineCapacity | None,
    answer: RushAnswer,
) -> None:
    assert answer_rush_order(state, rush, now=now, hold_expiry=EXPIRY) == (new, answer)
