"""Business calendars: which instants count towards an SLA budget.

A calendar has a time zone, working days, wall-clock hours and holidays::

    jp-business: {timezone: Asia/Tokyo, days: [mon, tue, wed, thu, fri],
                  hours: ["09:00-12:00", "13:00-18:00"],
                  holidays: [2026-12-31, "2027-01-01..2027-01-03"]}

``days`` defaults to every day, ``hours`` to ``00:00-24:00``; ``timezone`` is
required. ``24x7`` (UTC, every day, all day) exists unless a document defines
its own.

Hours are wall-clock hours in the calendar's zone. When the clocks change,
a wall time is reached at the first instant the clock shows it or has passed
it: an opening or closing time that does not exist (spring forward) falls on
the jump itself, and one that occurs twice (fall back) is the first of the
two. So ``00:00-24:00`` is 23 real hours on the day clocks spring forward and
25 on the day they fall back. Every instant returned is in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.core.errors import RuleError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON = timedelta(days=3653)  # add() gives up after ten years
MAX_HOLIDAY_RUN = 366  # days in one "first..last" holiday range
ZERO = timedelta(0)
_DAY = timedelta(days=1)
_CACHED_DAYS = 4096
_MIDNIGHT = 24 * 60
_KEYS = frozenset({"timezone", "days", "hours", "holidays"})
_HOURS = re.compile(r"\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*")
_DATE = r"\d{4}-\d\d-\d\d"
_HOLIDAY = re.compile(rf"\s*({_DATE})\s*(?:\.\.\s*({_DATE})\s*)?")

Window = tuple[int, int]  # minutes after local midnight, end may be 24:00


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    zone: tzinfo
    days: frozenset[int]  # date.weekday(): 0 is Monday
    hours: tuple[Window, ...]  # sorted, disjoint
    holidays: frozenset[date]
    # Each local date's opening hours in UTC, worked out once (every SLA deadline walks them).
    _utc_hours: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def add(self, start: datetime, budget: timedelta) -> datetime:
        """The first instant (UTC) at which ``budget`` of business time has passed since start.

        Counting starts at the next opening when start is outside hours; a zero
        budget is start itself. ValueError when the budget does not fit in the
        ten years after start (holidays covering everything) or start is naive.
        """
        at, left = to_utc(start), budget
        if left < ZERO:
            raise ValueError(f"negative budget {budget}")
        if not left:
            return at
        first = self._day(at) - _DAY  # a day of margin for clocks turned back over midnight
        for opens, closes in self._windows(first, first + HORIZON):
            if closes <= at:
                continue
            begin = max(opens, at)
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
        raise ValueError(f"calendar {self.name}: {budget} of business time after {at} "
                         f"does not fit in {HORIZON.days} days")  # fmt: skip

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when end is not after start."""
        begin, finish = to_utc(start), to_utc(end)
        total = ZERO
        for opens, closes in self._windows(self._day(begin) - _DAY, self._day(finish) + _DAY):
            total += max(ZERO, min(closes, finish) - max(opens, begin))
        return total

    @property
    def business_day(self) -> timedelta:
        """One business day (``1bd``): the wall-clock hours the calendar is open in a day."""
        return timedelta(minutes=sum(end - start for start, end in self.hours))

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _windows(self, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
        """Opening hours as UTC intervals, in order, for the local dates first..last."""
        day = first
        while day <= last:
            yield from self._hours_on(day)
            day += _DAY

    def _hours_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        found = self._utc_hours.get(day)
        if found is None:
            found = ()
            if self.is_business_day(day):
                instants = ((self._instant(day, a), self._instant(day, b)) for a, b in self.hours)
                found = tuple((opens, closes) for opens, closes in instants if opens < closes)
            if len(self._utc_hours) >= _CACHED_DAYS:
                self._utc_hours.clear()
            self._utc_hours[day] = found
        return found

    def _instant(self, day: date, minute: int) -> datetime:
        return wall_to_utc(datetime.combine(day, time()) + timedelta(minutes=minute), self.zone)

    def _day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()


TWENTY_FOUR_SEVEN = BusinessCalendar(
    "24x7", UTC, frozenset(range(7)), ((0, _MIDNIGHT),), frozenset()
)


def to_utc(at: datetime) -> datetime:
    """An aware datetime in UTC; ValueError for a naive one (no clock is assumed)."""
    if at.utcoffset() is None:
        raise ValueError(f"{at} has no time zone")
    return at.astimezone(UTC)


def wall_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant at which the clock in ``zone`` shows ``wall`` (naive) or later."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the earlier of two readings
    return _jump(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first, zone)


def _jump(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The instant in (before, after] at which the offset changes, to the second."""
    offset = before.astimezone(zone).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        mid = (low + high) // 2
        if (before + timedelta(seconds=mid)).astimezone(zone).utcoffset() == offset:
            low = mid
        else:
            high = mid
    return before + timedelta(seconds=high)


def parse_calendars(
    doc: Mapping[str, Any] | None, where: str = "calendars"
) -> dict[str, BusinessCalendar]:
    """Validate ``calendars:``; the built-in ``24x7`` is included unless redefined."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise RuleError(where, "must map calendar name -> {timezone, days, hours, holidays}")
    out = {TWENTY_FOUR_SEVEN.name: TWENTY_FOUR_SEVEN}
    for name, spec in doc.items():
        if not isinstance(name, str) or not name:
            raise RuleError(f"{where}.{name}", f"{name!r} is not a calendar name")
        out[name] = parse_calendar(name, spec, f"{where}.{name}")
    return out


def parse_calendar(name: str, spec: Any, where: str) -> BusinessCalendar:
    if not isinstance(spec, Mapping):
        raise RuleError(where, "must be a mapping with timezone, days, hours, holidays")
    unknown = set(spec) - _KEYS
    if unknown:
        raise RuleError(where, f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    return BusinessCalendar(
        name,
        _zone(spec.get("timezone"), f"{where}.timezone"),
        _days(spec.get("days", list(DAYS)), f"{where}.days"),
        _hours(spec.get("hours", ["00:00-24:00"]), f"{where}.hours"),
        _holidays(spec.get("holidays") or [], f"{where}.holidays"),
    )


def _zone(value: Any, where: str) -> ZoneInfo:
    if not isinstance(value, str):
        raise RuleError(where, f"{value!r} is not an IANA time zone such as Asia/Tokyo")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RuleError(where, f"unknown time zone {value!r}") from None


def _days(value: Any, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise RuleError(where, f"must list business days among {', '.join(DAYS)}")
    out: set[int] = set()
    for n, day in enumerate(value):
        key = day.lower() if isinstance(day, str) else day
        if key not in DAYS:
            raise RuleError(f"{where}[{n}]", f"unknown day {day!r} (one of {', '.join(DAYS)})")
        if DAYS.index(key) in out:
            raise RuleError(f"{where}[{n}]", f"{day!r} is listed twice")
        out.add(DAYS.index(key))
    return frozenset(out)


def _hours(value: Any, where: str) -> tuple[Window, ...]:
    if not isinstance(value, list) or not value:
        raise RuleError(where, 'must list opening hours like "09:00-18:00"')
    ranges = sorted((_window(text, f"{where}[{n}]"), n) for n, text in enumerate(value))
    merged: list[Window] = []
    last = -1  # the index of the range that ends merged[-1]
    for (start, end), n in ranges:
        if merged and start < merged[-1][1]:
            raise RuleError(f"{where}[{max(n, last)}]", f"overlaps {where}[{min(n, last)}]")
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)  # touching ranges join
        else:
            merged.append((start, end))
        last = n
    return tuple(merged)


def _window(text: Any, where: str) -> Window:
    found = _HOURS.fullmatch(text) if isinstance(text, str) else None
    if not found:
        raise RuleError(where, f'{text!r} is not a range of hours like "09:00-12:00"')
    h1, m1, h2, m2 = map(int, found.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > _MIDNIGHT:
        raise RuleError(where, f"{text!r} is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise RuleError(where, f"{text!r} ends before it starts")
    return start, end


def _holidays(value: Any, where: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise RuleError(where, 'must list dates like 2026-12-31 or "2026-12-29..2027-01-03"')
    return frozenset(day for n, item in enumerate(value) for day in _holiday(item, f"{where}[{n}]"))


def _holiday(value: Any, where: str) -> list[date]:
    if isinstance(value, date) and not isinstance(value, datetime):
        return [value]
    found = _HOLIDAY.fullmatch(value) if isinstance(value, str) else None
    if not found:
        raise RuleError(where, f"{value!r} is not a date like 2026-12-31 or a range first..last")
    try:
        first = date.fromisoformat(found[1])
        last = date.fromisoformat(found[2] or found[1])
    except ValueError as exc:
        raise RuleError(where, f"{value!r}: {exc}") from None
    if not ZERO <= last - first < timedelta(days=MAX_HOLIDAY_RUN):
        raise RuleError(where, f"{value!r}: a range runs forward, {MAX_HOLIDAY_RUN} days at most")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
