"""The one time-parsing path and the window of times handoff can use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.ingest.times import (
    TimeRefusedError,
    TimeWindow,
    parse_day,
    parse_iso,
    skew_seconds,
)

RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow()


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-02T09:00:00Z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T18:00:00+09:00", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("2026-03-02T10:00:00.000+0100", datetime(2026, 3, 2, 9, tzinfo=UTC)),  # Salesforce
        ("2026-03-02 09:00:00z", datetime(2026, 3, 2, 9, tzinfo=UTC)),
        ("0001-01-01T00:00:00-01:00", datetime(1, 1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59+01:00", datetime(9999, 12, 31, 22, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_iso_reads_what_converts_to_utc(text: str, utc: datetime) -> None:
    assert parse_iso(text).astimezone(UTC) == utc


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0001-01-01T00:00:00+14:00", "datetime_range"),
        ("9999-12-31T23:59:59-12:00", "datetime_range"),
        ("2026-03-02T09:00:00", "timezone_aware"),
        ("2026-02-30T00:00:00Z", "datetime"),
        ("10000-01-01T00:00:00Z", "datetime"),
        ("yesterday", "datetime"),
    ],
)
def test_parse_iso_refuses_what_it_cannot_represent(text: str, kind: str) -> None:
    with pytest.raises(TimeRefusedError) as refused:
        parse_iso(text)

    assert refused.value.kind == kind


@pytest.mark.parametrize(
    ("moment", "usable"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), True),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(1970, 1, 1, tzinfo=UTC), False),
        (RECEIVED + timedelta(days=7), True),
        (RECEIVED + timedelta(days=7, seconds=1), False),
        (datetime(9999, 12, 31, tzinfo=UTC), False),
    ],
)
def test_the_window_of_usable_times(moment: datetime, usable: bool) -> None:
    if usable:
        WINDOW.check(moment, RECEIVED)
    else:
        with pytest.raises(TimeRefusedError, match=r"before|ahead"):
            WINDOW.check(moment, RECEIVED)


@pytest.mark.parametrize(
    ("raised", "sla_start"),
    [
        (None, None),
        (RECEIVED - timedelta(minutes=5), None),
        (RECEIVED - timedelta(days=1), None),
        (RECEIVED - timedelta(days=1, seconds=1), RECEIVED),  # raised long before: from receipt
        (RECEIVED + timedelta(minutes=5), RECEIVED),  # dated after its receipt: from receipt
    ],
)
def test_when_the_sla_starts(raised: datetime | None, sla_start: datetime | None) -> None:
    assert WINDOW.sla_start(raised, RECEIVED) == sla_start


@pytest.mark.parametrize("unix", [0, 253402300800, 999_999_999_999, -(10**12)])
def test_skew_of_any_unix_time_builds_no_datetime(unix: int) -> None:
    assert skew_seconds(unix, RECEIVED) == abs(RECEIVED.timestamp() - unix)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-12-10", date(2026, 12, 10)),
        (" 2026-12-10 ", date(2026, 12, 10)),
        ("2026-12-10T09:00:00+09:00", date(2026, 12, 10)),
        ("2026-12-10T20:00:00-05:00", date(2026, 12, 11)),  # the UTC date
    ],
)
def test_parse_day_reads_dates_and_zoned_date_times(text: str, day: date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    "text",
    ["2026年12月10日", "2026/12/10", "10.12.2026", "12/10/2026", "2026-13-01", "2026-02-30",
     "Dec 10 2026", "令和8年12月10日", "２０２６－１２－１０", "2026-02-30T00:00:00Z"],
)  # fmt: skip
def test_every_unreadable_date_gets_the_same_message(text: str) -> None:
    with pytest.raises(TimeRefusedError) as err:
        parse_day(text)
    assert (err.value.kind, err.value.msg) == ("date", f"not a date (YYYY-MM-DD): {text!r}")


def test_a_date_time_without_a_zone_keeps_its_own_reason() -> None:
    with pytest.raises(TimeRefusedError) as err:
        parse_day("2026-12-10T09:00")
    assert err.value.kind == "timezone_aware"
