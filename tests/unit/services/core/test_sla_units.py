"""SLA budget units: ``d`` is 24 business hours, ``bd`` one business day of the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from services.core.calendar import parse_calendars
from services.core.errors import RuleError
from services.core.sla import parse_duration, parse_sla_policies

CALENDARS = parse_calendars(
    yaml.safe_load("""
jp-business: {timezone: Asia/Tokyo, days: [mon, tue, wed, thu, fri],
              hours: ["09:00-12:00", "13:00-18:00"]}
short-friday: {timezone: UTC, hours: ["09:00-13:00"]}
""")
)
MONDAY_9_TOKYO = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("calendar", "budget", "expected"),
    [
        ("jp-business", "1bd", timedelta(hours=8)),
        ("jp-business", "3bd", timedelta(hours=24)),
        ("jp-business", "1d", timedelta(hours=24)),
        ("jp-business", "1bd4h", timedelta(hours=12)),
        ("jp-business", "2bd30m", timedelta(hours=16, minutes=30)),
        ("short-friday", "1bd", timedelta(hours=4)),
        ("24x7", "1bd", timedelta(hours=24)),
    ],
)
def test_business_days_are_the_calendars_hours_of_one_day(
    calendar: str, budget: str, expected: timedelta
) -> None:
    policy = parse_sla_policies({"p": {"resolve": budget, "calendar": calendar}}, CALENDARS)["p"]
    assert policy.resolve == expected


@pytest.mark.parametrize(
    ("budget", "resolve_by"),
    [
        ("1bd", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # Monday 18:00 Tokyo
        ("3bd", datetime(2026, 11, 25, 9, 0, tzinfo=UTC)),  # Wednesday 18:00
        ("1d", datetime(2026, 11, 25, 9, 0, tzinfo=UTC)),  # 24 business hours: the same
    ],
)
def test_one_d_is_three_working_days_of_eight_hours(budget: str, resolve_by: datetime) -> None:
    spec = {"p": {"resolve": budget, "calendar": "jp-business"}}
    clocks = parse_sla_policies(spec, CALENDARS)["p"].clocks(MONDAY_9_TOKYO)
    assert clocks.deadlines == (None, resolve_by)


@pytest.mark.parametrize(
    ("text", "unit"),
    [("1w", "'w'"), ("2y", "'y'"), ("500ms", "'ms'"), ("1H", "'H'"), ("3bdays", "'bdays'")],
)
def test_unknown_units_are_named(text: str, unit: str) -> None:
    with pytest.raises(ValueError, match=f"is not a duration like .*unknown unit {unit}"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1bd", "2bd4h"])
def test_business_days_need_a_calendar(text: str) -> None:
    with pytest.raises(ValueError, match="bd \\(business days\\) needs a calendar"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("budget", "reason"),
    [("1w", "unknown unit 'w'"), ("1h1bd", "is not a duration like"), ("0bd", "longer than zero")],
)
def test_policy_errors_name_the_budget(budget: str, reason: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_sla_policies({"p": {"resolve": budget, "calendar": "jp-business"}}, CALENDARS)
    assert err.value.where == "sla_policies.p.resolve"
    assert reason in err.value.reason
