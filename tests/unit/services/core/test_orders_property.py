"""Property: whatever the capacity tables and order sequences, no promise exceeds what was
published minus what was held, per line and date (issue 11, acceptance 1).

The reference ledger below is kept by the test itself from the answers (published figures
from the updates it sent, holds from the promises it got), not read back from the core.
Redelivered orders (a hold id seen before) and several orders on one line in a row are
part of the generated sequences.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.capacity import CapacityUpdate, LineCapacity, Rejected
from services.core.holds import Hold
from services.core.orders import (
    Planning,
    Promised,
    RushOrder,
    answer_rush_order,
    apply_to_book,
    expire_book,
    release_deal,
)

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
DAYS = [date(2026, 12, 1) + timedelta(days=n) for n in range(5)]
LINES = [("hamamatsu", "l1"), ("hamamatsu", "l2"), ("nagoya", "l1")]
PRODUCTS = ["wx-200", "wx-300"]
EXPIRY = timedelta(hours=6)

updates = st.tuples(
    st.just("update"),
    st.sampled_from(LINES),
    st.sets(st.sampled_from(PRODUCTS), max_size=2),
    st.dictionaries(st.sampled_from(DAYS), st.integers(0, 500), max_size=5),
)
orders = st.tuples(
    st.just("order"),
    st.sampled_from([f"h{n}" for n in range(6)]),  # a hold id seen before: a redelivery
    st.sampled_from(PRODUCTS),
    st.integers(1, 900),
    st.sampled_from(DAYS),
    st.sampled_from([None, "hamamatsu", "nagoya"]),
)
other = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 4)),  # hours
    st.tuples(st.just("lost"), st.sampled_from(["o0", "o1"])),
)
steps = st.lists(st.one_of(updates, orders, other), max_size=40)


class Ledger:
    """What the test knows: figures published, products per line, holds promised."""

    def __init__(self) -> None:
        self.published: dict[tuple[str, date], int] = {}
        self.products: dict[str, set[str]] = {}
        self.holds: dict[str, Hold] = {}
        self.orders: dict[str, RushOrder] = {}

    def available(self, line: str, day: date, now: datetime) -> int:
        held = sum(
            h.allocations.get(day, 0)
            for h in self.holds.values()
            if h.line == line and h.active(now)
        )
        return self.published.get((line, day), 0) - held


def run(sequence: list[tuple[object, ...]]) -> None:
    book: dict[str, LineCapacity] = {}
    ledger, now, as_of = Ledger(), START, START
    for step in sequence:
        if step[0] == "update":
            as_of += timedelta(seconds=1)
            book = publish(book, ledger, step, as_of)
        elif step[0] == "wait":
            now += timedelta(hours=int(str(step[1])))
            book, gone = expire_book(book, now)
            assert all(not hold.active(now) for _, hold in gone)
            for _, hold in gone:
                ledger.holds.pop(hold.hold_id)
        elif step[0] == "lost":
            book, gone = release_deal(book, str(step[1]))
            for _, hold in gone:
                ledger.holds.pop(hold.hold_id)
        else:
            book = promise(book, ledger, step, now)


def publish(
    book: dict[str, LineCapacity], ledger: Ledger, step: tuple[object, ...], as_of: datetime
) -> dict[str, LineCapacity]:
    _, (plant, line), products, free = step
    assert isinstance(products, set)
    assert isinstance(free, dict)
    update = CapacityUpdate(line, as_of, free, plant=plant, products=frozenset(products))
    for day, units in free.items():
        ledger.published[(update.key, day)] = units
    if products:
        ledger.products[update.key] = set(products)
    return apply_to_book(book, update)


def promise(
    book: dict[str, LineCapacity], ledger: Ledger, step: tuple[object, ...], now: datetime
) -> dict[str, LineCapacity]:
    _, hold_id, product, quantity, due, plant = step
    assert isinstance(quantity, int)
    assert isinstance(due, date)
    assert plant is None or isinstance(plant, str)
    deal = f"o{quantity % 2}"
    made = RushOrder(str(hold_id), str(product), quantity, due, "t", plant, deal)
    order = ledger.orders.setdefault(str(hold_id), made)
    new, answer = answer_rush_order(book, order, now=now, hold_expiry=EXPIRY)
    if isinstance(answer, Promised):
        if answer.hold.hold_id in ledger.holds:  # a redelivery: the same promise, nothing new
            assert answer.hold == ledger.holds[answer.hold.hold_id]
            assert new == book
            return new
        check_promise(ledger, order, answer, now)
        ledger.holds[answer.hold.hold_id] = answer.hold
    else:
        assert isinstance(answer, Planning | Rejected)
        assert new == book
    return new


def check_promise(ledger: Ledger, order: RushOrder, answer: Promised, now: datetime) -> None:
    line = answer.line.line
    assert order.product in ledger.products.get(line, set()), "a line that cannot make it"
    assert order.plant is None or line.startswith(order.plant + "/")
    assert sum(answer.hold.allocations.values()) == order.quantity
    assert max(answer.hold.allocations) <= order.due
    for day, units in answer.hold.allocations.items():
        assert units <= ledger.available(line, day, now), f"over-promised {line} on {day}"


@settings(max_examples=400, deadline=None)
@given(steps)
def test_no_promise_exceeds_published_minus_held(sequence: list[tuple[object, ...]]) -> None:
    run(sequence)


def test_concurrent_orders_on_one_line_share_its_units() -> None:
    line = ("hamamatsu", "l1")
    run(
        [("update", line, {"wx-200"}, {DAYS[0]: 100})]
        + [("order", f"h{n}", "wx-200", 40, DAYS[0], None) for n in range(4)]
        + [("order", "h0", "wx-200", 40, DAYS[0], None)]
    )
