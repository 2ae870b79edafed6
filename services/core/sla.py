"""SLA policies: budgets to acknowledge and resolve, counted on a business calendar.

::

    sla_policies:
      urgent: {acknowledge: 1h, resolve: 8h, calendar: jp-business, warn_at: 0.8}
      follow-up: {resolve: 5d, on_reassign: keep}

A policy needs ``acknowledge``, ``resolve`` or both (acknowledge no longer
than resolve); ``calendar`` defaults to ``24x7`` and ``warn_at`` to 0.8. A
budget is an amount of business time: ``1d`` is 24 business hours, which on
a calendar open 8 hours a day is three working days; ``1bd`` is one business
day, the hours the calendar is open in one day (8 hours on such a calendar),
so ``3bd`` means three working days. Units are ``bd`` or ``d``, ``h``, ``m``,
``s``, in that order (``1bd4h``).

``sla.at_risk`` comes due when ``warn_at`` of a budget has been spent,
``sla.breached`` when all of it has. Acknowledging stops the acknowledge
clock; resolving stops both.

When a task is reassigned to another team, ``on_reassign`` says what its
clocks do: ``restart`` (the default) gives the new team the full budgets from
the handover; ``keep`` leaves the deadlines where they were, so the new team
inherits whatever is left. Either way the new team must acknowledge again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.core.calendar import TWENTY_FOUR_SEVEN, ZERO, BusinessCalendar, to_utc
from services.core.errors import RuleError

ACKNOWLEDGE = "acknowledge"
RESOLVE = "resolve"
AT_RISK = "sla.at_risk"
BREACHED = "sla.breached"
DEFAULT_WARN_AT = 0.8
RESTART = "restart"
KEEP = "keep"
ON_REASSIGN = (RESTART, KEEP)
_KEYS = frozenset({ACKNOWLEDGE, RESOLVE, "calendar", "warn_at", "on_reassign"})
_DURATION = re.compile(r"(?:(\d+)(bd|d))?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TERM = re.compile(r"\d+([^\d\s]*)")
UNITS = ("bd", "d", "h", "m", "s")
_LIKE = "is not a duration like 30s, 15m, 1h30m, 2d or 1bd"


@dataclass(frozen=True)
class SlaEvent:
    type: str  # AT_RISK or BREACHED
    clock: str  # ACKNOWLEDGE or RESOLVE
    at: datetime  # when it came due
    due: datetime  # the clock's deadline

    @property
    def key(self) -> str:
        """What a timer remembers having emitted: ``sla.at_risk:acknowledge``."""
        return f"{self.type}:{self.clock}"


@dataclass(frozen=True)
class SlaClock:
    name: str  # ACKNOWLEDGE or RESOLVE
    budget: timedelta
    warn: datetime
    due: datetime

    def events(self) -> tuple[SlaEvent, SlaEvent]:
        at_risk = SlaEvent(AT_RISK, self.name, self.warn, self.due)
        return at_risk, SlaEvent(BREACHED, self.name, self.due, self.due)


@dataclass(frozen=True)
class SlaClocks:
    """A task's deadlines, all in UTC; the timer keeps what it already emitted."""

    acknowledge: SlaClock | None
    resolve: SlaClock | None

    @property
    def deadlines(self) -> tuple[datetime | None, datetime | None]:
        """(acknowledge by, resolve by); None for a budget the policy does not set."""
        return (
            self.acknowledge.due if self.acknowledge else None,
            self.resolve.due if self.resolve else None,
        )

    def due_events(
        self, now: datetime, *, acknowledged: bool, resolved: bool, already: Set[str] = frozenset()
    ) -> tuple[SlaEvent, ...]:
        """Events due at ``now`` on running clocks and not in ``already``, oldest first."""
        at = to_utc(now)
        return tuple(e for e in self._pending(acknowledged, resolved, already) if e.at <= at)

    def next_deadline(
        self, *, acknowledged: bool, resolved: bool, already: Set[str] = frozenset()
    ) -> datetime | None:
        """When the next event comes due (maybe already past); None when none is left."""
        pending = self._pending(acknowledged, resolved, already)
        return pending[0].at if pending else None

    def _pending(self, acknowledged: bool, resolved: bool, already: Set[str]) -> list[SlaEvent]:
        stopped = {ACKNOWLEDGE: acknowledged or resolved, RESOLVE: resolved}
        running = [c for c in (self.acknowledge, self.resolve) if c and not stopped[c.name]]
        events = [e for clock in running for e in clock.events() if e.key not in already]
        return sorted(events, key=lambda e: e.at)  # stable: at_risk before breached


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    calendar: BusinessCalendar
    acknowledge: timedelta | None
    resolve: timedelta | None
    warn_at: float = DEFAULT_WARN_AT
    on_reassign: str = RESTART

    def clocks(self, raised_at: datetime) -> SlaClocks:
        """Deadlines for a task raised at ``raised_at`` (aware); see BusinessCalendar.add."""
        return SlaClocks(
            self._clock(ACKNOWLEDGE, self.acknowledge, raised_at),
            self._clock(RESOLVE, self.resolve, raised_at),
        )

    def reassigned(self, current: SlaClocks, at: datetime) -> tuple[SlaClocks, bool]:
        """The clocks of a task handed to another team at ``at``, and whether they restarted.

        ``restart``: fresh budgets from ``at`` (what was signalled before no
        longer counts); ``keep``: the same deadlines.
        """
        if self.on_reassign == KEEP:
            return current, False
        return self.clocks(at), True

    def _clock(self, name: str, budget: timedelta | None, start: datetime) -> SlaClock | None:
        if budget is None:
            return None
        warn = self.calendar.add(start, budget * self.warn_at)
        return SlaClock(name, budget, warn, self.calendar.add(start, budget))


def parse_duration(text: str, business_day: timedelta | None = None) -> timedelta:
    """``30s``, ``15m``, ``1h30m``, ``2d``, ``1bd`` (units in that order).

    ``1d`` is 24 hours; ``1bd`` is ``business_day`` (a calendar's hours in one
    day), refused when no calendar gives one.
    """
    found = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not found or not any(found.groups()):
        raise ValueError(f"{text!r} {_LIKE}{_unknown_unit(text)}")
    count, unit, *rest = found.groups()
    hours, minutes, seconds = (int(part or 0) for part in rest)
    days = int(count or 0)
    try:
        if unit == "bd":
            return _business_days(text, days, business_day) + timedelta(
                hours=hours, minutes=minutes, seconds=seconds
            )
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long") from None


def _business_days(text: str, days: int, business_day: timedelta | None) -> timedelta:
    if business_day is None:
        raise ValueError(f"{text!r}: bd (business days) needs a calendar; use d, h, m or s")
    return business_day * days


def _unknown_unit(text: object) -> str:
    """``: unknown unit 'w' (...)`` when ``text`` has a unit that is not one of UNITS."""
    if not isinstance(text, str):
        return ""
    units = [unit for unit in _TERM.findall(text) if unit not in UNITS]
    if not units:
        return ""
    return f": unknown unit {units[0]!r} (units: {', '.join(UNITS)}, in that order)"


def parse_sla_policies(
    doc: Mapping[str, Any] | None,
    calendars: Mapping[str, BusinessCalendar],
    where: str = "sla_policies",
) -> dict[str, SlaPolicy]:
    """Validate ``sla_policies:`` against the calendars already parsed."""
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise RuleError(where, "must map policy name -> {acknowledge, resolve, calendar, warn_at}")
    return {str(name): _policy(str(name), spec, calendars, f"{where}.{name}")
            for name, spec in doc.items()}  # fmt: skip


def _policy(
    name: str, spec: Any, calendars: Mapping[str, BusinessCalendar], where: str
) -> SlaPolicy:
    if not isinstance(spec, Mapping):
        raise RuleError(
            where, "must be a mapping with acknowledge, resolve, calendar, warn_at, on_reassign"
        )
    unknown = set(spec) - _KEYS
    if unknown:
        raise RuleError(where, f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    calendar = _calendar(
        spec.get("calendar", TWENTY_FOUR_SEVEN.name), calendars, f"{where}.calendar"
    )
    acknowledge = _budget(spec.get(ACKNOWLEDGE), calendar, f"{where}.{ACKNOWLEDGE}")
    resolve = _budget(spec.get(RESOLVE), calendar, f"{where}.{RESOLVE}")
    if acknowledge is None and resolve is None:
        raise RuleError(where, "needs an acknowledge or a resolve budget (or both)")
    if acknowledge is not None and resolve is not None and acknowledge > resolve:
        raise RuleError(f"{where}.{ACKNOWLEDGE}", f"{acknowledge} is longer than resolve {resolve}")
    warn_at = _warn_at(spec.get("warn_at", DEFAULT_WARN_AT), f"{where}.warn_at")
    on_reassign = spec.get("on_reassign", RESTART)
    if on_reassign not in ON_REASSIGN:
        raise RuleError(
            f"{where}.on_reassign", f"{on_reassign!r} is not one of {', '.join(ON_REASSIGN)}"
        )
    return SlaPolicy(name, calendar, acknowledge, resolve, warn_at, str(on_reassign))


def _budget(value: Any, calendar: BusinessCalendar, where: str) -> timedelta | None:
    if value is None:
        return None
    try:
        budget = parse_duration(value, calendar.business_day)
    except ValueError as exc:
        raise RuleError(where, str(exc)) from None
    if budget <= ZERO:
        raise RuleError(where, f"{value!r}: a budget must be longer than zero")
    return budget


def _calendar(
    value: Any, calendars: Mapping[str, BusinessCalendar], where: str
) -> BusinessCalendar:
    known = {TWENTY_FOUR_SEVEN.name: TWENTY_FOUR_SEVEN, **calendars}
    if not isinstance(value, str) or value not in known:
        raise RuleError(where, f"unknown calendar {value!r} (known: {', '.join(sorted(known))})")
    return known[value]


def _warn_at(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise RuleError(where, f"{value!r} is not a share of the budget between 0 and 1")
    return float(value)
