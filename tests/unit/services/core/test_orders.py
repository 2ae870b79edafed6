"""Rush orders against the capacity book: by product, across plants and lines, table-driven."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.core.capacity import CapacityUpdate, LineCapacity, Rejected, Rejection
from services.core.orders import (
    Book,
    Planning,
    Promised,
    RushOrder,
    answer_rush_order,
    apply_to_book,
    book_from_dict,
    book_to_dict,
    candidates,
    expire_book,
    next_expiry,
    release_deal,
)

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EXPIRY = timedelta(hours=48)
D1, D2, D3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)


def update(plant: str, line: str, products: set[str], free: dict[date, int]) -> CapacityUpdate:
    return CapacityUpdate(
        line, NOW - timedelta(hours=1), free, plant=plant, products=frozenset(products)
    )


def book(*updates: CapacityUpdate) -> dict[str, LineCapacity]:
    out: dict[str, LineCapacity] = {}
    for one in updates:
        out = apply_to_book(out, one)
    return out


def order(product: str, quantity: int, due: date = D2, **kw: str) -> RushOrder:
    return RushOrder(kw.pop("hold_id", "h1"), product, quantity, due, "t1", **kw)


# Issue 11, "What broke" 1: WX-300's capacity must never answer a WX-200 order.
HAMAMATSU = book(
    update("hamamatsu-2", "l1", {"wx-300"}, {D1: 5000, D2: 5000}),
    update("hamamatsu-2", "l2", {"wx-200", "wx-300"}, {D1: 1000, D2: 1000, D3: 2000}),
    update("nagoya-1", "l1", {"wx-200"}, {D2: 500, D3: 3000}),
)


def test_capacity_of_another_product_is_never_promised() -> None:
    only_300 = book(update("hamamatsu-2", "l1", {"wx-300"}, {D1: 5000}))
    _, answer = answer_rush_order(only_300, order("wx-200", 3000), now=NOW, hold_expiry=EXPIRY)
    assert isinstance(answer, Rejected)
    assert answer.code is Rejection.UNKNOWN_PRODUCT
    assert "wx-200" in answer.reason


def test_the_line_that_makes_it_earliest_is_chosen_and_held() -> None:
    new, answer = answer_rush_order(HAMAMATSU, order("wx-200", 1500), now=NOW, hold_expiry=EXPIRY)
    assert isinstance(answer, Promised)
    assert (answer.line.line, answer.earliest) == ("hamamatsu-2/l2", D2)
    assert dict(answer.hold.allocations) == {D1: 1000, D2: 500}
    assert answer.hold.expires_at == NOW + EXPIRY
    assert new["hamamatsu-2/l2"].available_on(D2, NOW) == 500
    assert new["hamamatsu-2/l1"] == HAMAMATSU["hamamatsu-2/l1"]


def test_a_plant_limits_the_lines() -> None:
    _, answer = answer_rush_order(
        HAMAMATSU, order("wx-200", 1500, D3, plant="nagoya-1"), now=NOW, hold_expiry=EXPIRY
    )
    assert isinstance(answer, Promised)
    assert answer.line.line == "nagoya-1/l1"


def test_an_order_that_does_not_fit_is_planning_work_with_the_shortfall() -> None:
    _, answer = answer_rush_order(HAMAMATSU, order("wx-200", 4000), now=NOW, hold_expiry=EXPIRY)
    assert isinstance(answer, Planning)
    assert [line.line for line in answer.candidates] == ["hamamatsu-2/l2", "nagoya-1/l1"]
    assert dict(answer.shortfall) == {D1: 3000, D2: 2000}
    assert answer.earliest_feasible == D3
    assert "2000 of 4000 units missing by 2026-12-02" in answer.reason


@pytest.mark.parametrize(
    ("rush", "code"),
    [
        (order("wx-900", 10), Rejection.UNKNOWN_PRODUCT),
        (order("wx-200", 10, plant="kyoto-9"), Rejection.UNKNOWN_PRODUCT),
        (order("wx-200", 10, date(2026, 11, 29)), Rejection.DUE_BEFORE_TODAY),
        (order("wx-200", 0), Rejection.QUANTITY_NOT_POSITIVE),
    ],
)
def test_what_cannot_be_checked_is_refused_with_the_reason(
    rush: RushOrder, code: Rejection
) -> None:
    new, answer = answer_rush_order(HAMAMATSU, rush, now=NOW, hold_expiry=EXPIRY)
    assert isinstance(answer, Rejected)
    assert answer.code is code
    assert new == HAMAMATSU


def test_a_redelivered_order_is_answered_from_its_hold() -> None:
    rush = order("wx-200", 1500)
    first, promised = answer_rush_order(HAMAMATSU, rush, now=NOW, hold_expiry=EXPIRY)
    again, answer = answer_rush_order(first, order("wx-200", 1500), now=NOW, hold_expiry=EXPIRY)
    assert again == first
    assert answer == promised


def test_a_lost_deal_releases_its_holds() -> None:
    held, _ = answer_rush_order(
        HAMAMATSU, order("wx-200", 1500, opportunity_id="006A"), now=NOW, hold_expiry=EXPIRY
    )
    released, gone = release_deal(held, "006A")
    assert [hold.hold_id for _, hold in gone] == ["h1"]
    assert released == HAMAMATSU
    assert release_deal(released, "006A")[1] == ()


def test_expired_holds_are_dropped_and_reported() -> None:
    held, _ = answer_rush_order(HAMAMATSU, order("wx-200", 1500), now=NOW, hold_expiry=EXPIRY)
    assert next_expiry(held) == NOW + EXPIRY
    assert expire_book(held, NOW + EXPIRY - timedelta(seconds=1))[1] == ()
    dropped, gone = expire_book(held, NOW + EXPIRY)
    assert [hold.units for _, hold in gone] == [1500]
    assert dropped == HAMAMATSU
    assert next_expiry(dropped) is None


def test_an_update_without_products_makes_its_family() -> None:
    family = CapacityUpdate("l9", NOW, {D1: 10}, plant="p", product_family="wx-100")
    assert [line.line for line in candidates(book(family), "wx-100", None)] == ["p/l9"]


def test_the_book_round_trips() -> None:
    held: Book = answer_rush_order(
        HAMAMATSU, order("wx-200", 1500, opportunity_id="006A"), now=NOW, hold_expiry=EXPIRY
    )[0]
    assert book_from_dict(book_to_dict(held)) == held
