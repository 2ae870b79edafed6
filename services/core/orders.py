"""Rush orders against the capacity book: every line of every plant, checked by product.

A rush order names a product (and optionally a plant). Only lines whose
latest update says they make that product count; of those, the line that can
make the quantity earliest by the due date is chosen and the units are held
there (``services.core.capacity.place_hold`` re-checks, so units are never
promised twice). An order no line fits becomes planning work with the
candidates, the shortfall per date and the earliest feasible date; an order
that cannot be checked at all (unknown product, past due date) is refused
with the reason, at once.

The book is one value: the router keeps it under one key of one table and
feeds every capacity update, rush order and release through one partition,
so checking and holding across several lines is serialised. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

from services.core.capacity import (
    CapacityUpdate,
    Feasible,
    Infeasible,
    LineCapacity,
    Rejected,
    Rejection,
    apply_update,
    check,
    place_hold,
    release_hold,
)
from services.core.holds import CapacityError, Hold, as_mapping

Book: TypeAlias = Mapping[str, LineCapacity]


@dataclass(frozen=True)
class RushOrder:
    """``quantity`` units of ``product`` by ``due`` (from ``plant`` only, if given)."""

    hold_id: str  # derived from the request, so a redelivered one finds its hold
    product: str
    quantity: int
    due: date
    task_id: str
    plant: str | None = None
    opportunity_id: str | None = None


@dataclass(frozen=True)
class Promised:
    """Feasible: the units are held on ``line`` until ``hold.expires_at``."""

    line: LineCapacity
    earliest: date
    hold: Hold


@dataclass(frozen=True)
class Planning:
    """Not by the due date: the lines that make the product, what is missing, and when."""

    candidates: tuple[LineCapacity, ...]
    shortfall: Mapping[date, int]
    earliest_feasible: date | None
    reason: str


RushAnswer: TypeAlias = Promised | Planning | Rejected


def apply_to_book(book: Book, update: CapacityUpdate) -> dict[str, LineCapacity]:
    """The book with ``update`` applied to its line (see ``capacity.apply_update``)."""
    return {**book, update.key: apply_update(book.get(update.key), update)}


def candidates(book: Book, product: str, plant: str | None) -> tuple[LineCapacity, ...]:
    """The lines that make ``product`` (at ``plant`` if given), by key."""
    return tuple(
        line
        for key, line in sorted(book.items())
        if product in line.products and (plant is None or line.plant == plant)
    )


def answer_rush_order(
    book: Book, order: RushOrder, *, now: datetime, hold_expiry: timedelta
) -> tuple[dict[str, LineCapacity], RushAnswer]:
    """Check, hold and answer in one step: the new book and the answer.

    A redelivered order finds its hold and is answered from it, changing nothing.
    """
    held = find_hold(book, order.hold_id)
    if held is not None:
        line, hold = held
        return dict(book), Promised(line, max(hold.allocations), hold)
    lines = candidates(book, order.product, order.plant)
    if not lines:
        return dict(book), _unknown_product(order)
    checked = [
        (line, check(line, quantity=order.quantity, due=order.due, today=now.date(), now=now))
        for line in lines
    ]
    refused = next((a for _, a in checked if isinstance(a, Rejected)), None)
    if refused is not None:
        return dict(book), refused
    fits = sorted(
        ((a.earliest, line.line), line, a) for line, a in checked if isinstance(a, Feasible)
    )
    if not fits:
        return dict(book), _planning(lines, order, now)
    _, line, feasible = fits[0]
    hold = Hold(
        order.hold_id,
        line.line,
        feasible.allocations,
        now + hold_expiry,
        order.task_id,
        order.opportunity_id,
    )
    placed = place_hold(line, hold, now=now)
    return {**book, line.line: placed}, Promised(placed, feasible.earliest, hold)


def find_hold(book: Book, hold_id: str) -> tuple[LineCapacity, Hold] | None:
    for line in book.values():
        if hold_id in line.holds:
            return line, line.holds[hold_id]
    return None


def release_deal(
    book: Book, opportunity_id: str
) -> tuple[dict[str, LineCapacity], tuple[tuple[LineCapacity, Hold], ...]]:
    """The book without the holds of a lost or cancelled deal, and those holds."""
    return _release(book, lambda hold: hold.opportunity_id == opportunity_id)


def expire_book(
    book: Book, now: datetime
) -> tuple[dict[str, LineCapacity], tuple[tuple[LineCapacity, Hold], ...]]:
    """The book without the holds expired at ``now``, and those holds (to report them)."""
    return _release(book, lambda hold: not hold.active(now))


def next_expiry(book: Book) -> datetime | None:
    """When the next hold expires (the timer's cue), None without holds."""
    return min((h.expires_at for line in book.values() for h in line.holds.values()), default=None)


def book_from_dict(doc: object) -> dict[str, LineCapacity]:
    body = as_mapping(doc, "book")
    lines = body.get("lines", [])
    if not isinstance(lines, list):
        raise CapacityError("book.lines", "must be a list of lines")
    parsed = [LineCapacity.from_dict(line, f"book.lines[{n}]") for n, line in enumerate(lines)]
    return {line.line: line for line in parsed}


def book_to_dict(book: Book) -> dict[str, Any]:
    return {"lines": [book[key].to_dict() for key in sorted(book)]}


def _release(
    book: Book, released: Callable[[Hold], bool]
) -> tuple[dict[str, LineCapacity], tuple[tuple[LineCapacity, Hold], ...]]:
    out = dict(book)
    gone: list[tuple[LineCapacity, Hold]] = []
    for key, line in book.items():
        for hold in [h for h in line.holds.values() if released(h)]:
            gone.append((line, hold))
            out[key] = release_hold(out[key], hold.hold_id)
    return out, tuple(gone)


def _unknown_product(order: RushOrder) -> Rejected:
    where = f" at plant {order.plant}" if order.plant else ""
    reason = f"no line{where} publishes capacity for product {order.product}"
    return Rejected(Rejection.UNKNOWN_PRODUCT, reason)


def _planning(lines: tuple[LineCapacity, ...], order: RushOrder, now: datetime) -> Planning:
    """Not feasible by the due date on any line: the best line's shortfall per date."""
    today = now.date()
    answers = [
        (line, check(line, quantity=order.quantity, due=order.due, today=today, now=now))
        for line in lines
    ]
    dates = [a.earliest_feasible for _, a in answers if isinstance(a, Infeasible)]
    earliest = min((d for d in dates if d is not None), default=None)
    best = max(lines, key=lambda line: _covered(line, order, now))
    shortfall = _shortfall(best, order, now)
    missing = order.quantity - _covered(best, order, now)
    when = f"earliest possible {earliest}" if earliest else "no published date covers it"
    reason = f"{missing} of {order.quantity} units missing by {order.due}; {when}"
    return Planning(lines, shortfall, earliest, reason)


def _covered(line: LineCapacity, order: RushOrder, now: datetime) -> int:
    days = line.available_from(now.date(), now)
    return min(order.quantity, sum(units for day, units in days if day <= order.due))


def _shortfall(line: LineCapacity, order: RushOrder, now: datetime) -> dict[date, int]:
    """Units still missing on each published date through the due date, counted from today."""
    out: dict[date, int] = {}
    covered = 0
    for day, units in line.available_from(now.date(), now):
        if day > order.due:
            break
        covered += units
        out[day] = max(0, order.quantity - covered)
    return out
