"""Holds on production capacity, and the checks every capacity value goes through.

A ``Hold`` promises units of one line on some dates to one request, until it
is released or expires (see ``services.core.capacity``, which places them).
The helpers below validate plain data (a table's JSON, an update) into
values, raising ``CapacityError`` with where and why. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from services.core.errors import HandoffError

K = TypeVar("K", date, str)
V = TypeVar("V")


class CapacityError(HandoffError):
    """A capacity update, hold or stored state that cannot be used; says where and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class HoldRefusedError(CapacityError):
    """A hold asks for more units on a date than are available at that moment."""

    def __init__(self, hold_id: str, day: date, requested: int, available: int) -> None:
        super().__init__(
            f"hold {hold_id}", f"{requested} units asked on {day}, only {available} available"
        )
        self.hold_id = hold_id
        self.day = day
        self.requested = requested
        self.available = available


@dataclass(frozen=True)
class Hold:
    """Units promised to one request (task) on one line, until released or ``expires_at``."""

    hold_id: str
    line: str
    allocations: Mapping[date, int]
    expires_at: datetime
    task_id: str
    opportunity_id: str | None = None  # the CRM deal: losing it releases the hold

    def __post_init__(self) -> None:
        as_name(self.hold_id, "hold.hold_id")
        as_name(self.line, "hold.line")
        as_name(self.task_id, "hold.task_id")
        as_aware(self.expires_at, "hold.expires_at")
        allocations = as_units_by_date(self.allocations, "hold.allocations", 1)
        if not allocations:
            raise CapacityError("hold.allocations", "a hold must hold units on at least one date")
        object.__setattr__(self, "allocations", frozen_sorted(allocations))

    def active(self, now: datetime) -> bool:
        return now < self.expires_at

    @property
    def units(self) -> int:
        return sum(self.allocations.values())

    @classmethod
    def from_dict(cls, doc: object, where: str = "hold") -> Hold:
        body = as_mapping(doc, where)
        return cls(
            hold_id=as_name(body.get("hold_id"), f"{where}.hold_id"),
            line=as_name(body.get("line"), f"{where}.line"),
            allocations=as_units_by_date(body.get("allocations"), f"{where}.allocations", 1),
            expires_at=as_aware(body.get("expires_at"), f"{where}.expires_at"),
            task_id=as_name(body.get("task_id"), f"{where}.task_id"),
            opportunity_id=as_optional_name(body.get("opportunity_id"), f"{where}.opportunity_id"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold_id,
            "line": self.line,
            "allocations": iso_keys(self.allocations),
            "expires_at": self.expires_at.isoformat(),
            "task_id": self.task_id,
            "opportunity_id": self.opportunity_id,
        }


def frozen_sorted(items: Mapping[K, V]) -> Mapping[K, V]:
    return MappingProxyType({key: items[key] for key in sorted(items)})


def iso_keys(units: Mapping[date, int]) -> dict[str, int]:
    return {day.isoformat(): count for day, count in units.items()}


def as_mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CapacityError(where, f"must be a mapping, not {type(value).__name__}")
    return value


def as_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CapacityError(where, f"must be a non-empty string, not {value!r}")
    return value


def as_optional_name(value: object, where: str) -> str | None:
    return None if value is None else as_name(value, where)


def as_names(value: object, where: str) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise CapacityError(where, f"must be a list of ids, not {value!r}")
    return frozenset(as_name(item, f"{where}[{n}]") for n, item in enumerate(value))


def as_units(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CapacityError(where, f"must be a whole number of units >= {minimum}, not {value!r}")
    return value


def as_date(value: object, where: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date | str):
        raise CapacityError(where, f"{value!r} is not a date")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CapacityError(where, f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def as_aware(value: object, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        raise CapacityError(where, f"{value!r} is not an ISO date-time") from None
    if not isinstance(moment, datetime):
        raise CapacityError(where, f"{value!r} is not a date-time")
    if moment.utcoffset() is None:
        raise CapacityError(where, f"{value!r} has no time zone (an aware date-time is required)")
    return moment


def as_units_by_date(value: object, where: str, minimum: int) -> dict[date, int]:
    body = as_mapping(value, where)
    out: dict[date, int] = {}
    for key, units in body.items():
        day = as_date(key, where)
        if day in out:
            raise CapacityError(f"{where}[{key}]", f"date {day} is given twice")
        out[day] = as_units(units, f"{where}[{key}]", minimum)
    return out
