from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from services.core.calendar import (
    TWENTY_FOUR_SEVEN,
    BusinessCalendar,
    parse_calendars,
    wall_to_utc,
)
from services.core.errors import RuleError
from services.core.sla import parse_duration

CALENDARS = parse_calendars(
    yaml.safe_load("""
jp-business:
  timezone: Asia/Tokyo
  days: [mon, tue, wed, thu, fri]
  hours: ["09:00-12:00", "13:00-18:00"]
  holidays: [2026-11-03, 2026-12-31, "2027-01-01..2027-01-03"]
berlin: {timezone: Europe/Berlin}
berlin-night: {timezone: Europe/Berlin, hours: ["01:00-04:00"]}
berlin-gap: {timezone: Europe/Berlin, hours: ["02:15-03:30"]}
berlin-twice: {timezone: Europe/Berlin, hours: ["02:00-02:30", "02:45-03:30"]}
new-york: {timezone: America/New_York}
ny-office: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00-17:00"]}
""")
)


def at(text: str) -> datetime:
    """An instant written with its offset: ``2026-06-05T17:30+09:00``."""
    found = datetime.fromisoformat(text)
    assert found.utcoffset() is not None
    return found


# 2026-06-05 is a Friday. 2026-11-03 (Tue) and 2026-12-31..2027-01-03 are jp-business holidays.
# Berlin springs forward 2026-03-29 02:00 -> 03:00 (at 01:00Z), falls back 2026-10-25
# 03:00 -> 02:00 (at 01:00Z); New York on 2026-03-08 and 2026-11-01.
@pytest.mark.parametrize(
    ("calendar", "start", "budget", "due"),
    [
        # the example, and the same instant given in UTC
        ("jp-business", "2026-06-05T17:30+09:00", "1h", "2026-06-08T09:30+09:00"),
        ("jp-business", "2026-06-05T08:30+00:00", "1h", "2026-06-08T09:30+09:00"),
        # lunch break, closing time, starting in lunch, before opening, at the weekend
        ("jp-business", "2026-06-03T11:30+09:00", "1h", "2026-06-03T13:30+09:00"),
        ("jp-business", "2026-06-03T11:30+09:00", "30m", "2026-06-03T12:00+09:00"),
        ("jp-business", "2026-06-03T17:00+09:00", "1h", "2026-06-03T18:00+09:00"),
        ("jp-business", "2026-06-03T12:15+09:00", "15m", "2026-06-03T13:15+09:00"),
        ("jp-business", "2026-06-03T07:00+09:00", "1h", "2026-06-03T10:00+09:00"),
        ("jp-business", "2026-06-06T10:00+09:00", "1h", "2026-06-08T10:00+09:00"),
        ("jp-business", "2026-06-03T20:00+09:00", "8h", "2026-06-04T18:00+09:00"),
        # five working days across a weekend
        ("jp-business", "2026-06-03T09:00+09:00", "40h", "2026-06-09T18:00+09:00"),
        ("jp-business", "2026-06-03T09:00+09:00", "1d16h", "2026-06-09T18:00+09:00"),
        # a holiday, and a run of holidays into a weekend
        ("jp-business", "2026-11-02T17:00+09:00", "2h", "2026-11-04T10:00+09:00"),
        ("jp-business", "2026-12-30T17:00+09:00", "2h", "2027-01-04T10:00+09:00"),
        ("jp-business", "2026-12-31T10:00+09:00", "1m", "2027-01-04T09:01+09:00"),
        # all day, every day
        ("24x7", "2026-06-05T17:30+00:00", "1h", "2026-06-05T18:30+00:00"),
        ("24x7", "2026-06-05T17:30+09:00", "2d", "2026-06-07T08:30+00:00"),
        ("24x7", "2026-12-31T23:59:30+00:00", "45s", "2027-01-01T00:00:15+00:00"),
        # a DST day counts its real hours: 23 in spring, 25 in autumn
        ("berlin", "2026-03-28T12:00+01:00", "24h", "2026-03-29T13:00+02:00"),
        ("berlin", "2026-10-24T12:00+02:00", "24h", "2026-10-25T11:00+01:00"),
        ("new-york", "2026-03-07T12:00-05:00", "24h", "2026-03-08T13:00-04:00"),
        # 01:00-04:00 across the change: 02:00-03:00 never happens / happens twice
        ("berlin-night", "2026-03-29T00:00+01:00", "1h30m", "2026-03-29T03:30+02:00"),
        ("berlin-night", "2026-03-29T00:00+01:00", "2h30m", "2026-03-30T01:30+02:00"),
        ("berlin-night", "2026-10-25T00:00+02:00", "2h30m", "2026-10-25T02:30+01:00"),
        ("berlin-night", "2026-10-25T00:00+02:00", "4h", "2026-10-25T04:00+01:00"),
        # office hours in wall time are unaffected by the change
        ("ny-office", "2026-03-06T16:00-05:00", "2h", "2026-03-09T10:00-04:00"),
    ],
)
def test_add_counts_only_business_time(calendar: str, start: str, budget: str, due: str) -> None:
    found = CALENDARS[calendar].add(at(start), parse_duration(budget))
    assert found == at(due)
    assert found.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "due"),
    [
        ("2026-06-03T10:00+09:00", "2026-06-03T01:00+00:00"),  # inside hours
        ("2026-06-03T12:30+09:00", "2026-06-03T03:30+00:00"),  # lunch: not moved to 13:00
        ("2026-06-06T10:00+09:00", "2026-06-06T01:00+00:00"),  # Saturday: not moved to Monday
    ],
)
def test_a_zero_budget_is_the_start_itself(start: str, due: str) -> None:
    found = CALENDARS["jp-business"].add(at(start), timedelta(0))
    assert (found, found.tzinfo) == (at(due), UTC)


@pytest.mark.parametrize(
    ("calendar", "start", "end", "elapsed"),
    [
        ("jp-business", "2026-06-05T17:30+09:00", "2026-06-08T09:30+09:00", "1h"),
        ("jp-business", "2026-06-03T08:00+09:00", "2026-06-03T20:00+09:00", "8h"),
        ("jp-business", "2026-06-03T11:00+09:00", "2026-06-03T13:30+09:00", "1h30m"),
        ("jp-business", "2026-12-30T00:00+09:00", "2027-01-05T00:00+09:00", "16h"),
        ("jp-business", "2026-06-06T00:00+09:00", "2026-06-07T23:59+09:00", "0s"),
        ("jp-business", "2026-06-03T15:00+09:00", "2026-06-03T10:00+09:00", "0s"),  # backwards
        ("24x7", "2026-06-05T17:30+09:00", "2026-06-05T17:30+00:00", "9h"),
        # whole local days around the clock changes
        ("berlin", "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "23h"),
        ("berlin", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "25h"),
        ("berlin", "2026-06-10T00:00+02:00", "2026-06-11T00:00+02:00", "24h"),
        ("new-york", "2026-03-08T00:00-05:00", "2026-03-09T00:00-04:00", "23h"),
        ("new-york", "2026-11-01T00:00-04:00", "2026-11-02T00:00-05:00", "25h"),
        ("ny-office", "2026-11-01T00:00-04:00", "2026-11-03T00:00-05:00", "8h"),
        ("berlin-night", "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "2h"),
        ("berlin-night", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "4h"),
        ("berlin-night", "2026-06-10T00:00+02:00", "2026-06-11T00:00+02:00", "3h"),
        # a wall time that never happens opens at the jump (03:00 CEST) ...
        ("berlin-gap", "2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", "30m"),
        ("berlin-gap", "2026-06-10T00:00+02:00", "2026-06-11T00:00+02:00", "1h15m"),
        # ... one that happens twice is its first time: 02:00-02:30 CEST, 02:45 CEST-03:30 CET
        ("berlin-twice", "2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", "2h15m"),
        ("berlin-twice", "2026-06-10T00:00+02:00", "2026-06-11T00:00+02:00", "1h15m"),
    ],
)
def test_elapsed_counts_business_time_between_instants(
    calendar: str, start: str, end: str, elapsed: str
) -> None:
    expected = timedelta(0) if elapsed == "0s" else parse_duration(elapsed)
    assert CALENDARS[calendar].elapsed(at(start), at(end)) == expected


@pytest.mark.parametrize(
    ("wall", "instant"),
    [
        (datetime(2026, 3, 29, 1, 59), "2026-03-29T01:59+01:00"),
        (datetime(2026, 3, 29, 2, 0), "2026-03-29T03:00+02:00"),  # never shown: the jump
        (datetime(2026, 3, 29, 2, 30), "2026-03-29T03:00+02:00"),
        (datetime(2026, 3, 29, 3, 0), "2026-03-29T03:00+02:00"),
        (datetime(2026, 10, 25, 2, 30), "2026-10-25T02:30+02:00"),  # shown twice: the first
        (datetime(2026, 10, 25, 3, 0), "2026-10-25T03:00+01:00"),
    ],
)
def test_wall_times_map_to_the_first_instant_the_clock_shows_them(
    wall: datetime, instant: str
) -> None:
    assert wall_to_utc(wall, CALENDARS["berlin"].zone) == at(instant)


STARTS = ["2026-06-05T17:30+09:00", "2026-06-03T12:10+09:00", "2026-12-29T16:00+09:00",
          "2026-03-28T22:00+01:00", "2026-10-24T23:30+02:00"]  # fmt: skip
BUDGETS = ["1s", "48m", "1h", "7h59m", "8h", "3d", "6d5h7m"]


@pytest.mark.parametrize("calendar", ["jp-business", "berlin-night", "berlin-twice", "24x7"])
def test_elapsed_inverts_add(calendar: str) -> None:
    cal = CALENDARS[calendar]
    for start in map(at, STARTS):
        for budget in map(parse_duration, BUDGETS):
            due = cal.add(start, budget)
            assert cal.elapsed(start, due) == budget
            assert cal.elapsed(start, due - timedelta(microseconds=1)) < budget


@pytest.mark.parametrize(
    ("end", "back_to"),
    [
        ("2026-06-08T10:00+09:00", "2026-06-08T10:00+09:00"),  # inside hours: exactly
        ("2026-06-08T12:40+09:00", "2026-06-08T12:00+09:00"),  # at lunch: the last closing
        ("2026-06-07T10:00+09:00", "2026-06-05T18:00+09:00"),  # Sunday: Friday's closing
    ],
)
def test_add_of_elapsed_lands_on_the_last_business_instant(end: str, back_to: str) -> None:
    cal, start = CALENDARS["jp-business"], at("2026-06-05T17:30+09:00")
    assert cal.add(start, cal.elapsed(start, at(end))) == at(back_to)


def test_a_decade_of_holidays_is_a_clear_error_not_a_hang() -> None:
    years = [f"{y}-01-01..{y}-12-31" for y in range(2026, 2038)]
    shut = parse_calendars({"shut": {"timezone": "UTC", "days": ["mon"], "holidays": years}})
    with pytest.raises(ValueError, match="does not fit in 3653 days"):
        shut["shut"].add(at("2026-01-05T10:00+00:00"), timedelta(hours=1))
    assert shut["shut"].add(at("2034-06-05T10:00+00:00"), timedelta(hours=1)) == at(
        "2038-01-04T01:00+00:00"
    )


@pytest.mark.parametrize(
    ("start", "budget", "message"),
    [
        (datetime(2026, 6, 5, 10, 0), timedelta(hours=1), "has no time zone"),
        (at("2026-06-05T10:00+09:00"), timedelta(hours=-1), "negative budget"),
    ],
)
def test_add_refuses_naive_starts_and_negative_budgets(
    start: datetime, budget: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CALENDARS["jp-business"].add(start, budget)


def test_elapsed_refuses_naive_instants() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        CALENDARS["24x7"].elapsed(at("2026-06-05T10:00+00:00"), datetime(2026, 6, 6))


def test_parsed_calendar_is_normalised() -> None:
    cal = parse_calendars(
        yaml.safe_load("""
x:
  timezone: Asia/Tokyo
  days: [FRI, mon]
  hours: ["13:00-18:00", "09:00-12:00", "12:00-13:00", "20:00 - 24:00"]
  holidays: [2026-12-31, "2027-01-02", "2027-01-04..2027-01-05", "2026-12-31"]
""")
    )["x"]
    assert cal.days == {0, 4}
    assert cal.hours == ((9 * 60, 18 * 60), (20 * 60, 24 * 60))
    assert cal.holidays == {
        date(2026, 12, 31),
        date(2027, 1, 2),
        date(2027, 1, 4),
        date(2027, 1, 5),
    }
    assert cal.is_business_day(date(2027, 1, 8))
    assert not cal.is_business_day(date(2027, 1, 4))


def test_defaults_are_every_day_all_day() -> None:
    cal = parse_calendars({"berlin": {"timezone": "Europe/Berlin"}})["berlin"]
    assert (cal.days, cal.hours, cal.holidays) == (frozenset(range(7)), ((0, 1440),), frozenset())


@pytest.mark.parametrize("doc", [None, {}, {"jp": {"timezone": "Asia/Tokyo"}}])
def test_24x7_is_built_in(doc: dict[str, Any] | None) -> None:
    assert parse_calendars(doc)["24x7"] == TWENTY_FOUR_SEVEN
    assert TWENTY_FOUR_SEVEN.zone is UTC


def test_a_document_may_redefine_24x7() -> None:
    own = parse_calendars({"24x7": {"timezone": "Asia/Tokyo", "holidays": ["2026-12-31"]}})["24x7"]
    assert isinstance(own, BusinessCalendar)
    assert own.holidays == {date(2026, 12, 31)}


def cal(**spec: Any) -> dict[str, Any]:
    return {"jp": {"timezone": "Asia/Tokyo", **spec}}


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ([], "calendars", "must map calendar name"),
        ({1: {"timezone": "UTC"}}, "calendars.1", "is not a calendar name"),
        ({"jp": ["Asia/Tokyo"]}, "calendars.jp", "must be a mapping"),
        (cal(colour="red"), "calendars.jp", "unknown keys: colour"),
        ({"jp": {"days": ["mon"]}}, "calendars.jp.timezone", "None is not an IANA time zone"),
        (cal(timezone="Mars/Olympus"), "calendars.jp.timezone", "unknown time zone 'Mars/Olympus'"),
        (cal(timezone="America"), "calendars.jp.timezone", "unknown time zone"),
        (cal(timezone="../etc/passwd"), "calendars.jp.timezone", "unknown time zone"),
        (cal(timezone=""), "calendars.jp.timezone", "unknown time zone"),
        (cal(timezone=9), "calendars.jp.timezone", "9 is not an IANA time zone"),
        (cal(days="mon"), "calendars.jp.days", "must list business days"),
        (cal(days=[]), "calendars.jp.days", "must list business days"),
        (cal(days=["mon", "fri", "funday"]), "calendars.jp.days[2]", "unknown day 'funday'"),
        (cal(days=["monday"]), "calendars.jp.days[0]", "unknown day 'monday'"),
        (cal(days=[1]), "calendars.jp.days[0]", "unknown day 1"),
        (cal(days=["mon", "Mon"]), "calendars.jp.days[1]", "'Mon' is listed twice"),
        (cal(hours="09:00-18:00"), "calendars.jp.hours", "must list opening hours"),
        (cal(hours=[]), "calendars.jp.hours", "must list opening hours"),
        (cal(hours=["9-18"]), "calendars.jp.hours[0]", "is not a range of hours"),
        (cal(hours=[540]), "calendars.jp.hours[0]", "is not a range of hours"),
        (cal(hours=["09:00-12:00", "13:00-18:60"]), "calendars.jp.hours[1]", "not a time of day"),
        (cal(hours=["23:00-24:01"]), "calendars.jp.hours[0]", "not a time of day"),
        (cal(hours=["24:00-24:00"]), "calendars.jp.hours[0]", "not a time of day"),
        (cal(hours=["25:00-26:00"]), "calendars.jp.hours[0]", "not a time of day"),
        (cal(hours=["18:00-09:00"]), "calendars.jp.hours[0]", "ends before it starts"),
        (cal(hours=["09:00-09:00"]), "calendars.jp.hours[0]", "ends before it starts"),
        (cal(hours=["09:00-12:00", "11:00-13:00"]), "calendars.jp.hours[1]",
         r"overlaps calendars.jp.hours\[0\]"),
        (cal(hours=["13:00-18:00", "09:00-14:00"]), "calendars.jp.hours[1]",
         r"overlaps calendars.jp.hours\[0\]"),
        (cal(hours=["09:00-12:00", "12:00-14:00", "13:00-15:00"]), "calendars.jp.hours[2]",
         r"overlaps calendars.jp.hours\[1\]"),
        (cal(hours=["10:00-11:00", "09:00-18:00"]), "calendars.jp.hours[1]",
         r"overlaps calendars.jp.hours\[0\]"),
        (cal(holidays="2026-12-31"), "calendars.jp.holidays", "must list dates"),
        (cal(holidays=["2026-02-30"]), "calendars.jp.holidays[0]", "day is out of range"),
        (cal(holidays=["31/12/2026"]), "calendars.jp.holidays[0]", "is not a date"),
        (cal(holidays=[date(2026, 1, 1), 20261231]), "calendars.jp.holidays[1]", "is not a date"),
        (cal(holidays=[datetime(2026, 12, 31, 10)]), "calendars.jp.holidays[0]", "is not a date"),
        (cal(holidays=["2027-01-03..2026-12-31"]), "calendars.jp.holidays[0]", "runs forward"),
        (cal(holidays=["2026-01-01..2027-01-02"]), "calendars.jp.holidays[0]", "366 days at most"),
    ],
)  # fmt: skip
def test_every_load_error_names_where_and_why(doc: Any, where: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason) as err:
        parse_calendars(doc)
    assert err.value.where == where


def test_a_holiday_run_of_366_days_is_allowed() -> None:
    leap = parse_calendars(cal(holidays=["2028-01-01..2028-12-31"]))["jp"]
    assert len(leap.holidays) == 366


def test_errors_use_the_given_where() -> None:
    with pytest.raises(RuleError) as err:
        parse_calendars(cal(days=["x"]), where="routing.yaml: calendars")
    assert err.value.where == "routing.yaml: calendars.jp.days[0]"
