from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from services.core.calendar import TWENTY_FOUR_SEVEN, parse_calendars
from services.core.errors import RuleError
from services.core.sla import (
    AT_RISK,
    BREACHED,
    SlaClock,
    SlaClocks,
    parse_duration,
    parse_sla_policies,
)

CALENDARS = parse_calendars(
    yaml.safe_load("""
jp-business:
  timezone: Asia/Tokyo
  days: [mon, tue, wed, thu, fri]
  hours: ["09:00-12:00", "13:00-18:00"]
  holidays: [2026-12-31, 2027-01-01]
""")
)
POLICIES = parse_sla_policies(
    yaml.safe_load("""
urgent: {acknowledge: 1h, resolve: 8h, calendar: jp-business, warn_at: 0.8}
standard: {resolve: 1d}
page: {acknowledge: 15m, warn_at: 0.5}
"""),
    CALENDARS,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(hours=48)),
        ("1d12h", timedelta(hours=36)),
        ("1h0m5s", timedelta(seconds=3605)),
        (" 4h ", timedelta(hours=4)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "h", "1x", "30", "1m1h", "-1h", "1.5h", "1 h", "1H", 30, None]
)
def test_parse_duration_refuses(text: Any) -> None:
    with pytest.raises(ValueError, match="is not a duration like"):
        parse_duration(text)


def test_parse_duration_refuses_overflow() -> None:
    with pytest.raises(ValueError, match="is too long"):
        parse_duration("9999999999d")


def test_policies_take_their_defaults() -> None:
    urgent, standard, page = POLICIES["urgent"], POLICIES["standard"], POLICIES["page"]
    assert (urgent.calendar, urgent.acknowledge, urgent.resolve, urgent.warn_at) == (
        CALENDARS["jp-business"], timedelta(hours=1), timedelta(hours=8), 0.8
    )  # fmt: skip
    assert (standard.calendar, standard.acknowledge, standard.warn_at) == (
        TWENTY_FOUR_SEVEN, None, 0.8
    )  # fmt: skip
    assert (page.resolve, page.warn_at) == (None, 0.5)


def test_24x7_is_known_even_without_parsed_calendars() -> None:
    policy = parse_sla_policies({"p": {"resolve": "1h", "calendar": "24x7"}}, {})["p"]
    assert policy.calendar is TWENTY_FOUR_SEVEN


@pytest.mark.parametrize(
    ("policy", "raised_at", "ack_warn", "ack_due", "resolve_warn", "resolve_due"),
    [
        # Friday 17:30 in Tokyo: 30 minutes left that day, the rest on Monday
        ("urgent", "2026-06-05T17:30+09:00", "2026-06-08T09:18+09:00", "2026-06-08T09:30+09:00",
         "2026-06-08T15:54+09:00", "2026-06-08T17:30+09:00"),
        # the same instant as the router sees it, in UTC
        ("urgent", "2026-06-05T08:30+00:00", "2026-06-08T09:18+09:00", "2026-06-08T09:30+09:00",
         "2026-06-08T15:54+09:00", "2026-06-08T17:30+09:00"),
        # raised during the New Year holidays: clocks start on Monday 2027-01-04
        ("urgent", "2026-12-30T22:00+09:00", "2027-01-04T09:48+09:00", "2027-01-04T10:00+09:00",
         "2027-01-04T16:24+09:00", "2027-01-04T18:00+09:00"),
        ("standard", "2026-06-05T10:00+00:00", None, None,
         "2026-06-06T05:12+00:00", "2026-06-06T10:00+00:00"),
        ("page", "2026-06-05T10:00+00:00", "2026-06-05T10:07:30+00:00", "2026-06-05T10:15+00:00",
         None, None),
    ],
)  # fmt: skip
def test_clocks_count_business_time_and_are_in_utc(
    policy: str,
    raised_at: str,
    ack_warn: str | None,
    ack_due: str | None,
    resolve_warn: str | None,
    resolve_due: str | None,
) -> None:
    clocks = POLICIES[policy].clocks(at(raised_at))
    for clock, warn, due in ((clocks.acknowledge, ack_warn, ack_due),
                             (clocks.resolve, resolve_warn, resolve_due)):  # fmt: skip
        if warn is None or due is None:
            assert clock is None
            continue
        assert clock is not None
        assert (clock.warn, clock.due) == (at(warn), at(due))
        assert clock.warn.tzinfo is UTC
        assert clock.due.tzinfo is UTC


def test_clocks_refuse_a_naive_raised_at() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        POLICIES["urgent"].clocks(datetime(2026, 6, 5, 17, 30))


T0 = datetime(2026, 6, 5, tzinfo=UTC)
# acknowledge at risk 00:30, breached 01:00; resolve at risk 02:00, breached 04:00
CLOCKS = parse_sla_policies(
    {"p": {"acknowledge": "1h", "resolve": "4h", "warn_at": 0.5}}, CALENDARS
)["p"].clocks(T0)
ACK_RISK, ACK_BREACH = f"{AT_RISK}:acknowledge", f"{BREACHED}:acknowledge"
RES_RISK, RES_BREACH = f"{AT_RISK}:resolve", f"{BREACHED}:resolve"


@pytest.mark.parametrize(
    ("hours", "acknowledged", "resolved", "already", "expected"),
    [
        (0.49, False, False, set(), []),
        (0.5, False, False, set(), [ACK_RISK]),
        (0.75, False, False, {ACK_RISK}, []),
        (1, False, False, {ACK_RISK}, [ACK_BREACH]),
        (1, False, False, set(), [ACK_RISK, ACK_BREACH]),  # a late timer still says both, in order
        (5, False, False, set(), [ACK_RISK, ACK_BREACH, RES_RISK, RES_BREACH]),
        (5, False, False, {ACK_RISK, ACK_BREACH, RES_RISK}, [RES_BREACH]),
        (5, True, False, set(), [RES_RISK, RES_BREACH]),  # acknowledging stops only its clock
        (2, True, False, {ACK_RISK}, [RES_RISK]),
        (0.75, True, False, set(), []),  # acknowledged before the timer saw the risk
        (5, False, True, set(), []),  # resolving stops both
        (5, True, True, set(), []),
        (5, False, False, {ACK_RISK, ACK_BREACH, RES_RISK, RES_BREACH}, []),
    ],
)
def test_due_events(
    hours: float, acknowledged: bool, resolved: bool, already: set[str], expected: list[str]
) -> None:
    now = T0 + timedelta(hours=hours)
    events = CLOCKS.due_events(
        now, acknowledged=acknowledged, resolved=resolved, already=frozenset(already)
    )
    assert [e.key for e in events] == expected
    assert all(e.at <= now for e in events)


def test_events_say_when_they_came_due_and_the_deadline() -> None:
    events = CLOCKS.due_events(T0 + timedelta(hours=1), acknowledged=False, resolved=False)
    assert [(e.type, e.clock, e.at, e.due) for e in events] == [
        (AT_RISK, "acknowledge", T0 + timedelta(minutes=30), T0 + timedelta(hours=1)),
        (BREACHED, "acknowledge", T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
    ]


@pytest.mark.parametrize(
    ("acknowledged", "resolved", "already", "hours"),
    [
        (False, False, set(), 0.5),
        (False, False, {ACK_RISK}, 1),
        (True, False, {ACK_RISK}, 2),
        (True, False, set(), 2),
        (False, False, {ACK_RISK, ACK_BREACH, RES_RISK}, 4),
        (False, True, set(), None),
        (True, False, {RES_RISK, RES_BREACH}, None),
    ],
)
def test_next_deadline_is_the_earliest_pending_instant(
    acknowledged: bool, resolved: bool, already: set[str], hours: float | None
) -> None:
    found = CLOCKS.next_deadline(
        acknowledged=acknowledged, resolved=resolved, already=frozenset(already)
    )
    assert found == (None if hours is None else T0 + timedelta(hours=hours))


def test_a_timer_that_fires_late_or_twice_emits_each_event_once() -> None:
    """The router's timer: emit what is due, remember it, sleep until the next deadline."""
    emitted: list[str] = []
    fired_at = [0.2, 0.5, 0.5, 0.9, 1.7, 1.7, 3.0, 6.0, 6.0, 9.0]
    for hours in fired_at:
        now = T0 + timedelta(hours=hours)
        already = frozenset(emitted)
        events = CLOCKS.due_events(now, acknowledged=False, resolved=False, already=already)
        emitted += [e.key for e in events]
    assert emitted == [ACK_RISK, ACK_BREACH, RES_RISK, RES_BREACH]
    assert CLOCKS.next_deadline(acknowledged=False, resolved=False, already=set(emitted)) is None


def test_following_next_deadline_visits_every_event_in_order() -> None:
    emitted: list[str] = []
    for _ in range(5):  # bounded: a timer that never catches up fails instead of hanging
        due = CLOCKS.next_deadline(acknowledged=True, resolved=False, already=set(emitted))
        if due is None:
            break
        events = CLOCKS.due_events(due, acknowledged=True, resolved=False, already=set(emitted))
        emitted += [e.key for e in events]
    assert emitted == [RES_RISK, RES_BREACH]


def test_clocks_on_a_business_calendar_wait_for_monday() -> None:
    clocks = POLICIES["urgent"].clocks(at("2026-06-05T17:30+09:00"))
    saturday = at("2026-06-06T12:00+09:00")
    assert clocks.due_events(saturday, acknowledged=False, resolved=False) == ()
    assert clocks.next_deadline(acknowledged=False, resolved=False) == at("2026-06-08T09:18+09:00")


def test_due_events_refuse_a_naive_now() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        CLOCKS.due_events(datetime(2026, 6, 5), acknowledged=False, resolved=False)


def test_clocks_are_plain_values() -> None:
    clock = SlaClock("resolve", timedelta(hours=1), T0, T0 + timedelta(hours=1))
    assert SlaClocks(None, clock) == SlaClocks(None, clock)
    assert hash(SlaClocks(None, clock)) == hash(SlaClocks(None, clock))


def policy(**spec: Any) -> dict[str, Any]:
    return {"p": {"resolve": "8h", **spec}}


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ([], "sla_policies", "must map policy name"),
        ({"p": "8h"}, "sla_policies.p", "must be a mapping"),
        (policy(escalate="x"), "sla_policies.p", "unknown keys: escalate"),
        ({"p": {"calendar": "24x7"}}, "sla_policies.p", "needs an acknowledge or a resolve"),
        (policy(resolve="soon"), "sla_policies.p.resolve", "'soon' is not a duration"),
        (policy(resolve=8), "sla_policies.p.resolve", "8 is not a duration"),
        (policy(acknowledge="1x"), "sla_policies.p.acknowledge", "is not a duration"),
        (policy(acknowledge="0s"), "sla_policies.p.acknowledge", "longer than zero"),
        (policy(resolve="0m"), "sla_policies.p.resolve", "longer than zero"),
        (policy(acknowledge="9h"), "sla_policies.p.acknowledge", "longer than resolve 8:00:00"),
        (policy(calendar="mars"), "sla_policies.p.calendar",
         r"unknown calendar 'mars' \(known: 24x7, jp-business\)"),
        (policy(calendar=None), "sla_policies.p.calendar", "unknown calendar None"),
        (policy(warn_at=0), "sla_policies.p.warn_at", "not a share of the budget between 0 and 1"),
        (policy(warn_at=1), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(warn_at=1.5), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(warn_at=-0.2), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(warn_at=True), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(warn_at="80%"), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(warn_at=float("nan")), "sla_policies.p.warn_at", "between 0 and 1"),
        (policy(on_reassign="reset"), "sla_policies.p.on_reassign",
         "'reset' is not one of restart, keep"),
        (policy(on_reassign=["keep"]), "sla_policies.p.on_reassign", "is not one of"),
    ],
)  # fmt: skip
def test_every_load_error_names_where_and_why(doc: Any, where: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason) as err:
        parse_sla_policies(doc, CALENDARS)
    assert err.value.where == where


def test_equal_budgets_and_no_policies_are_fine() -> None:
    assert parse_sla_policies(policy(acknowledge="8h"), CALENDARS)["p"].acknowledge == timedelta(
        hours=8
    )
    assert parse_sla_policies(None, CALENDARS) == {}


REASSIGNING = parse_sla_policies(
    {"fresh": {"acknowledge": "1h", "resolve": "8h"},
     "kept": {"acknowledge": "1h", "resolve": "8h", "on_reassign": "keep"}},
    CALENDARS,
)  # fmt: skip


def test_a_reassignment_restarts_the_clocks_by_default() -> None:
    raised, handed = at("2026-03-02T09:00:00+00:00"), at("2026-03-02T09:45:00+00:00")
    fresh = REASSIGNING["fresh"]
    assert fresh.on_reassign == "restart"
    clocks, restarted = fresh.reassigned(fresh.clocks(raised), handed)
    assert restarted
    assert clocks == fresh.clocks(handed)
    assert clocks.acknowledge is not None
    assert clocks.acknowledge.due == at("2026-03-02T10:45:00+00:00")


def test_keep_leaves_the_deadlines_where_they_were() -> None:
    raised, handed = at("2026-03-02T09:00:00+00:00"), at("2026-03-02T09:45:00+00:00")
    kept = REASSIGNING["kept"]
    before = kept.clocks(raised)
    assert kept.reassigned(before, handed) == (before, False)
