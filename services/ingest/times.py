"""One way ingest reads a time, and the window of times handoff can use.

Every instant a source gives (a ticket's ``created_at``, a CRM record's
``LastModifiedDate``, a capacity export's ``as_of``, Zendesk's signature timestamp)
is read here: ISO 8601 with a zone (or epoch milliseconds), and representable once
converted to UTC -- ``0001-01-01T00:00:00+14:00`` is a valid string but no instant
Python can hold in UTC, so it is refused rather than failing later.

A representable time can still be one handoff cannot use: before ``earliest``
(2000 by default: a 1970 ticket is a zeroed field, not a request) or more than
``max_ahead`` after ingest received it (a clock gone wrong). Those are refused too.
A request raised more than ``sla_max_lag`` before ingest received it (a backfill, a
ticket older than the integration) is accepted, but its SLA runs from its receipt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.core.errors import HandoffError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=7)
SLA_MAX_LAG = timedelta(days=1)
EPOCH_MS_MAX = 253402300800000  # 10000-01-01T00:00:00Z

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")  # Salesforce: +0000


class TimeRefusedError(HandoffError):
    """A time ingest will not take: ``kind`` is ``datetime`` (unreadable),
    ``timezone_aware`` (no zone) or ``datetime_range`` (unrepresentable or outside the
    window)."""

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg


def parse_iso(value: str) -> datetime:
    """An aware, UTC-representable instant from ISO 8601 (``Z``, ``+09:00``, ``+0900``)."""
    raw = _COMPACT_OFFSET.sub(r"\1:\2", value.strip().replace(" ", "T", 1))
    if raw.endswith(("z", "Z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise TimeRefusedError("datetime", f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        msg = f"date-time {value!r} has no time zone (add Z or an offset like +09:00)"
        raise TimeRefusedError("timezone_aware", msg)
    return representable(parsed, value)


def parse_day(value: str) -> date:
    """A calendar date from ``2026-03-12``, or the UTC date of an ISO 8601 date-time.

    Anything else unreadable (``2026/12/10``, ``10.12.2026``, ``2026年12月10日``) is
    refused with one message, kind ``date``: ``not a date (YYYY-MM-DD): '...'``; a
    date-time without a zone or out of range keeps its own reason.
    """
    raw = value.strip()
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        return parse_iso(raw).astimezone(UTC).date()
    except ValueError:
        raise _not_a_date(value) from None
    except TimeRefusedError as exc:
        if exc.kind == "datetime":
            raise _not_a_date(value) from None
        raise


def _not_a_date(value: str) -> TimeRefusedError:
    return TimeRefusedError("date", f"not a date (YYYY-MM-DD): {value!r}")


def from_epoch_ms(millis: float, value: object) -> datetime:
    """An instant from epoch milliseconds, refused outside years 1970..9999."""
    if not 0 <= millis < EPOCH_MS_MAX:
        raise TimeRefusedError("datetime", f"epoch milliseconds out of range: {value!r}")
    return datetime.fromtimestamp(millis / 1000, UTC)


def representable(moment: datetime, value: object) -> datetime:
    """``moment`` unchanged if it converts to UTC, else refused (year 1 or 9999, offset)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        msg = f"date-time {value!r} is out of range once converted to UTC"
        raise TimeRefusedError("datetime_range", msg) from None
    return moment


def skew_seconds(unix_seconds: int, now: datetime) -> float:
    """How far a Unix time is from ``now``, with no datetime built (any integer is fine)."""
    return abs(now.timestamp() - unix_seconds)


@dataclass(frozen=True)
class TimeWindow:
    """The times handoff can use, relative to when ingest received the request."""

    earliest: datetime = EARLIEST
    max_ahead: timedelta = MAX_AHEAD
    sla_max_lag: timedelta = SLA_MAX_LAG

    def check(self, moment: datetime, received_at: datetime) -> None:
        """Refuse an instant before ``earliest`` or more than ``max_ahead`` after receipt."""
        if moment < self.earliest:
            raise _out_of_range(f"is before {self.earliest.isoformat()}", moment)
        if moment > received_at + self.max_ahead:
            ahead = f"{self.max_ahead.total_seconds():g}s"
            raise _out_of_range(f"is more than {ahead} ahead of its receipt", moment)

    def sla_start(self, raised_at: datetime | None, received_at: datetime) -> datetime | None:
        """Receipt, for a request raised more than ``sla_max_lag`` before it or dated after
        it (its SLA clocks start then, not at ``raised_at``); None otherwise."""
        timely = raised_at is None or received_at - self.sla_max_lag <= raised_at <= received_at
        return None if timely else received_at


def _out_of_range(why: str, moment: datetime) -> TimeRefusedError:
    return TimeRefusedError("datetime_range", f"{moment.isoformat()} {why}: not a usable time")
