"""Production capacity per line, and the holds that promise part of it to sales.

A plant publishes, per production line, how many units are free on each date
(``CapacityUpdate``). ``LineCapacity`` is one line's table: for each date the
newest published figure (by the update's ``as_of``; an older update arriving
late never overwrites a newer one, an equal ``as_of`` keeps what is there, so
a redelivered update changes nothing), plus the holds placed on it.

Units available on a date = the published figure minus the units of the holds
that are active at ``now`` (``now < expires_at``) — never below zero, and
dates before ``today`` never count. A date nobody published has nothing free:
handoff never promises capacity the plant has not announced.

**Holds and later updates.** A published figure is read as free *before*
handoff's holds, so a hold keeps subtracting until it is released or expires,
even on dates a later update sets. Handoff cannot know whether the plant's
planner has already planned a held order; assuming it had would let two
customers be promised the same units, which is the failure story 2 exists to
prevent. The opposite error (units counted twice, so an answer is too
cautious) is safe and bounded by the hold's expiry. A plant that has planned
held orders says so: its update lists the hold ids in ``net_of``, and on the
dates that update sets those holds stop subtracting (a newer update for a
date that does not list them again makes them subtract again: each figure
says what it already excludes).

**Never granting the same units twice.** ``check`` only answers a question;
``place_hold`` re-checks availability against the state it is given and
raises ``HoldRefusedError`` if the hold no longer fits. That is the guarantee, and
it holds only if every change to one line is serialised: the router keeps every
line in one book (``services.core.orders``) under one key, and feeds capacity
updates, capacity-checked requests and releases through one key of its capacity
topic (sales notes are keyed by account, so they are re-keyed first), so the
book lives on one partition and is processed by one worker, one event at a
time. For each request the agent reads the lines' state, calls ``check``,
builds a ``Hold`` from a ``Feasible`` answer, calls ``place_hold`` and writes
the new state back before it answers sales. Never cache a state across
events, never check in one place and hold in another. Derive ``hold_id`` from
the request's event id: a redelivered request then finds its hold already in
``state.holds`` (answer from it), and placing the same hold again is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeAlias

from services.core.holds import (
    CapacityError,
    Hold,
    HoldRefusedError,
    as_aware,
    as_date,
    as_mapping,
    as_name,
    as_names,
    as_optional_name,
    as_units,
    as_units_by_date,
    frozen_sorted,
    iso_keys,
)


@dataclass(frozen=True)
class CapacityUpdate:
    """``production.capacity``: free units per date on one line, as the plant knew at ``as_of``."""

    line: str
    as_of: datetime
    free: Mapping[date, int]
    plant: str | None = None
    product_family: str | None = None
    net_of: frozenset[str] = frozenset()  # hold ids these figures already exclude
    products: frozenset[str] = frozenset()  # what the line can make (else its family)

    def __post_init__(self) -> None:
        as_name(self.line, "update.line")
        object.__setattr__(self, "products", as_names(self.products, "update.products"))
        as_aware(self.as_of, "update.as_of")
        free = as_units_by_date(self.free, "update.free", 0)
        object.__setattr__(self, "free", frozen_sorted(free))
        object.__setattr__(self, "net_of", as_names(self.net_of, "update.net_of"))

    @classmethod
    def from_dict(cls, doc: object, where: str = "update") -> CapacityUpdate:
        body = as_mapping(doc, where)
        return cls(
            line=as_name(body.get("line"), f"{where}.line"),
            as_of=as_aware(body.get("as_of"), f"{where}.as_of"),
            free=as_units_by_date(body.get("free"), f"{where}.free", 0),
            plant=as_optional_name(body.get("plant"), f"{where}.plant"),
            product_family=as_optional_name(body.get("product_family"), f"{where}.product_family"),
            net_of=as_names(body.get("net_of", ()), f"{where}.net_of"),
            products=as_names(body.get("products", ()), f"{where}.products"),
        )

    @property
    def key(self) -> str:
        """The line's key: ``plant/line`` (two plants may both have a line L1)."""
        return line_key(self.plant, self.line)

    @property
    def makes(self) -> frozenset[str]:
        """The products the line can make: those named, else its product family."""
        family = frozenset({self.product_family}) if self.product_family else frozenset()
        return self.products or family

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "as_of": self.as_of.isoformat(),
            "free": iso_keys(self.free),
            "plant": self.plant,
            "product_family": self.product_family,
            "net_of": sorted(self.net_of),
            "products": sorted(self.products),
        }


def line_key(plant: str | None, line: str) -> str:
    return f"{plant}/{line}" if plant else line


@dataclass(frozen=True)
class DayCapacity:
    """The newest published figure for one date, and the holds it already excludes."""

    free: int
    as_of: datetime
    net_of: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, doc: object, where: str) -> DayCapacity:
        body = as_mapping(doc, where)
        return cls(
            free=as_units(body.get("free"), f"{where}.free", 0),
            as_of=as_aware(body.get("as_of"), f"{where}.as_of"),
            net_of=as_names(body.get("net_of", ()), f"{where}.net_of"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"free": self.free, "as_of": self.as_of.isoformat(), "net_of": sorted(self.net_of)}


@dataclass(frozen=True)
class LineCapacity:
    """One production line: published figures per date and the holds placed on them."""

    line: str
    days: Mapping[date, DayCapacity] = field(default_factory=dict)
    holds: Mapping[str, Hold] = field(default_factory=dict)
    plant: str | None = None
    product_family: str | None = None
    as_of: datetime | None = None  # the newest update applied
    products: frozenset[str] = frozenset()  # what the line can make, as last published

    def __post_init__(self) -> None:
        as_name(self.line, "state.line")
        object.__setattr__(self, "products", as_names(self.products, "state.products"))
        object.__setattr__(self, "days", frozen_sorted(self.days))
        object.__setattr__(self, "holds", frozen_sorted(self.holds))
        for key, hold in self.holds.items():
            if key != hold.hold_id:
                raise CapacityError(
                    f"state.holds[{key}]", f"is keyed by another id {hold.hold_id!r}"
                )
            _same_line(self, hold.line, f"state.holds[{key}].line")

    def held_on(self, day: date, now: datetime) -> int:
        netted = self.days[day].net_of if day in self.days else frozenset()
        return sum(
            hold.allocations.get(day, 0)
            for hold in self.holds.values()
            if hold.active(now) and hold.hold_id not in netted
        )

    def available_on(self, day: date, now: datetime) -> int:
        published = self.days[day].free if day in self.days else 0
        return max(0, published - self.held_on(day, now))

    def available_from(self, today: date, now: datetime) -> Iterator[tuple[date, int]]:
        """(date, units available) for every published date from ``today`` on, in order."""
        return ((day, self.available_on(day, now)) for day in self.days if day >= today)

    @classmethod
    def from_dict(cls, doc: object, where: str = "state") -> LineCapacity:
        body = as_mapping(doc, where)
        days = as_mapping(body.get("days", {}), f"{where}.days")
        holds = body.get("holds", [])
        if not isinstance(holds, list):
            raise CapacityError(f"{where}.holds", "must be a list of holds")
        return cls(
            line=as_name(body.get("line"), f"{where}.line"),
            days={
                as_date(key, f"{where}.days"): DayCapacity.from_dict(value, f"{where}.days[{key}]")
                for key, value in days.items()
            },
            holds=_holds_by_id(
                [Hold.from_dict(h, f"{where}.holds[{n}]") for n, h in enumerate(holds)]
            ),
            plant=as_optional_name(body.get("plant"), f"{where}.plant"),
            product_family=as_optional_name(body.get("product_family"), f"{where}.product_family"),
            as_of=None if body.get("as_of") is None else as_aware(body["as_of"], f"{where}.as_of"),
            products=as_names(body.get("products", ()), f"{where}.products"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "plant": self.plant,
            "product_family": self.product_family,
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "days": {day.isoformat(): record.to_dict() for day, record in self.days.items()},
            "holds": [hold.to_dict() for hold in self.holds.values()],
            "products": sorted(self.products),
        }


@dataclass(frozen=True)
class Feasible:
    """``allocations`` take units date by date from ``today`` on (greedy, earliest first)."""

    earliest: date
    allocations: Mapping[date, int]


@dataclass(frozen=True)
class Infeasible:
    """Short by ``shortfall`` units on the due date; ``earliest_feasible`` is None if never."""

    reason: str
    shortfall: int
    earliest_feasible: date | None


class Rejection(Enum):
    UNKNOWN_LINE = "unknown_line"
    UNKNOWN_PRODUCT = "unknown_product"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    DUE_BEFORE_TODAY = "due_before_today"


@dataclass(frozen=True)
class Rejected:
    """A request that cannot be checked at all; ``code`` is a bounded label, ``reason`` prose."""

    code: Rejection
    reason: str


Feasibility: TypeAlias = Feasible | Infeasible | Rejected


def apply_update(state: LineCapacity | None, update: CapacityUpdate) -> LineCapacity:
    """The line with ``update``'s figures on the dates it names where it is newer."""
    current = LineCapacity(update.key) if state is None else state
    _same_line(current, update.key, "update.line")
    days = dict(current.days)
    for day, free in update.free.items():
        if day not in days or update.as_of > days[day].as_of:
            days[day] = DayCapacity(free, update.as_of, update.net_of)
    newest = current.as_of is None or update.as_of >= current.as_of
    return replace(
        current,
        days=days,
        plant=update.plant if newest and update.plant else current.plant,
        product_family=(
            update.product_family if newest and update.product_family else current.product_family
        ),
        as_of=update.as_of if newest else current.as_of,
        products=update.makes if newest and update.makes else current.products,
    )


def check(
    state: LineCapacity | None, *, quantity: int, due: date, today: date, now: datetime
) -> Feasibility:
    """Can ``quantity`` units be made from ``today`` through ``due``? A None state: unknown line."""
    if state is None:
        return Rejected(Rejection.UNKNOWN_LINE, "no capacity has been published for this line")
    rejected = _rejection(quantity, due, today)
    if rejected is not None:
        return rejected
    allocations, reached = _allocate(state.available_from(today, now), quantity)
    if reached is not None and reached <= due:
        return Feasible(reached, allocations)
    covered = sum(units for day, units in allocations.items() if day <= due)
    later = f"earliest feasible {reached}" if reached is not None else "no published date covers it"
    reason = f"{covered} of {quantity} units free from {today} through {due}; {later}"
    return Infeasible(reason, quantity - covered, reached)


def place_hold(state: LineCapacity, hold: Hold, *, now: datetime) -> LineCapacity:
    """The line with ``hold`` placed; ``HoldRefusedError`` if it does not fit at ``now``.

    Placing the very same hold again is a no-op (a redelivered request); another
    hold under the same id is an error.
    """
    _same_line(state, hold.line, f"hold {hold.hold_id}.line")
    placed = state.holds.get(hold.hold_id)
    if placed == hold:
        return state
    if placed is not None:
        raise CapacityError(f"hold {hold.hold_id}", "already placed with other terms")
    if not hold.active(now):
        raise CapacityError(
            f"hold {hold.hold_id}", f"expires at {hold.expires_at}, not after {now}"
        )
    for day, units in hold.allocations.items():
        available = state.available_on(day, now)
        if units > available:
            raise HoldRefusedError(hold.hold_id, day, units, available)
    return replace(state, holds={**state.holds, hold.hold_id: hold})


def release_hold(state: LineCapacity, hold_id: str) -> LineCapacity:
    """The line without that hold; an unknown id (already released or expired) is a no-op."""
    if hold_id not in state.holds:
        return state
    return replace(state, holds={k: v for k, v in state.holds.items() if k != hold_id})


def expire_holds(state: LineCapacity, now: datetime) -> tuple[LineCapacity, tuple[Hold, ...]]:
    """The line without the holds expired at ``now``, and those holds (to report them)."""
    expired = tuple(hold for hold in state.holds.values() if not hold.active(now))
    if not expired:
        return state, ()
    kept = {k: v for k, v in state.holds.items() if v.active(now)}
    return replace(state, holds=kept), expired


def forget_before(state: LineCapacity, day: date) -> LineCapacity:
    """The line without the figures for dates before ``day`` (they can never count again)."""
    return replace(state, days={d: record for d, record in state.days.items() if d >= day})


def _rejection(quantity: int, due: date, today: date) -> Rejected | None:
    if quantity <= 0:
        return Rejected(
            Rejection.QUANTITY_NOT_POSITIVE, f"quantity must be positive, not {quantity}"
        )
    if due < today:
        return Rejected(Rejection.DUE_BEFORE_TODAY, f"due date {due} is before today {today}")
    return None


def _allocate(
    available: Iterator[tuple[date, int]], quantity: int
) -> tuple[dict[date, int], date | None]:
    """Take units earliest first; the date the quantity is reached, or None if never."""
    taken: dict[date, int] = {}
    missing = quantity
    for day, units in available:
        if units > 0:
            taken[day] = min(units, missing)
            missing -= taken[day]
        if missing == 0:
            return taken, day
    return taken, None


def _same_line(state: LineCapacity, line: str, where: str) -> None:
    if line != state.line:
        raise CapacityError(where, f"is {line!r}, but this is line {state.line!r}")


def _holds_by_id(holds: list[Hold]) -> dict[str, Hold]:
    by_id = {hold.hold_id: hold for hold in holds}
    if len(by_id) != len(holds):
        raise CapacityError("state.holds", "hold ids must be unique")
    return by_id
