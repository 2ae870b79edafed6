"""Capacity per line and holds. Dates in the tables are days of May 2026 (``3`` is 2026-05-03)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import yaml

from services.core.capacity import (
    CapacityError,
    CapacityUpdate,
    Feasibility,
    Feasible,
    Hold,
    HoldRefusedError,
    Infeasible,
    LineCapacity,
    Rejected,
    Rejection,
    apply_update,
    check,
    expire_holds,
    forget_before,
    place_hold,
    release_hold,
)
from services.core.errors import HandoffError

LINE = "press-3"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)  # when the plant published
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 5, 1)


def day(n: int) -> date:
    return date(2026, 5, n)


def days(units: Mapping[int, int]) -> dict[date, int]:
    return {day(n): count for n, count in units.items()}


def make_update(
    free: Mapping[int, int],
    *,
    as_of: datetime = T0,
    net_of: frozenset[str] = frozenset(),
    **meta: str,
) -> CapacityUpdate:
    return CapacityUpdate(LINE, as_of, days(free), net_of=net_of, **meta)


def make_hold(
    units: Mapping[int, int],
    *,
    hold_id: str = "h1",
    expires_at: datetime = NOW + timedelta(hours=1),
) -> Hold:
    return Hold(hold_id, LINE, days(units), expires_at, task_id=f"task-{hold_id}")


def make_line(free: Mapping[int, int], *holds: Hold) -> LineCapacity:
    state = apply_update(None, make_update(free))
    for hold in holds:
        state = place_hold(state, hold, now=T0)
    return state


def ask(state: LineCapacity | None, quantity: int, due: int, today: int = 1) -> Feasibility:
    return check(state, quantity=quantity, due=day(due), today=day(today), now=NOW)


# ---------------------------------------------------------------- check


@pytest.mark.parametrize(
    ("case", "free", "held", "quantity", "due", "today", "earliest", "allocations"),
    [
        ("on-due-date", {1: 100, 2: 100, 3: 100}, {}, 300, 3, 1, 3, {1: 100, 2: 100, 3: 100}),
        ("early", {1: 100, 2: 100, 3: 100}, {}, 150, 3, 1, 2, {1: 100, 2: 50}),
        ("first-day", {1: 100, 2: 100, 3: 100}, {}, 40, 3, 1, 1, {1: 40}),
        ("due-today", {1: 10}, {}, 10, 1, 1, 1, {1: 10}),
        ("zero-days-skipped", {1: 0, 2: 0, 3: 60, 4: 0, 5: 40}, {}, 100, 5, 1, 5, {3: 60, 5: 40}),
        ("past-dates-skipped", {1: 100, 2: 100, 3: 100}, {}, 150, 3, 2, 3, {2: 100, 3: 50}),
        ("hold-subtracts", {1: 100, 2: 100}, {1: 80}, 100, 2, 1, 2, {1: 20, 2: 80}),
        ("unpublished-gap", {1: 100, 9: 100}, {}, 150, 20, 1, 9, {1: 100, 9: 50}),
    ],
)  # fmt: skip
def test_feasible(
    case: str,
    free: dict[int, int],
    held: dict[int, int],
    quantity: int,
    due: int,
    today: int,
    earliest: int,
    allocations: dict[int, int],
) -> None:
    state = make_line(free, *([make_hold(held)] if held else []))
    assert ask(state, quantity, due, today) == Feasible(day(earliest), days(allocations))


@pytest.mark.parametrize(
    ("case", "free", "held", "quantity", "due", "today", "shortfall", "earliest"),
    [
        ("feasible-later", {1: 100, 2: 100, 5: 100}, {}, 250, 3, 1, 50, 5),
        ("needs-all-of-later-day", {1: 100, 2: 100, 5: 100}, {}, 300, 2, 1, 100, 5),
        ("never", {1: 100}, {}, 250, 3, 1, 150, None),
        ("all-zero", {1: 0, 2: 0}, {}, 1, 2, 1, 1, None),
        ("past-dates-never-count", {1: 100, 2: 100, 3: 100}, {}, 150, 3, 3, 50, None),
        ("unpublished-days-are-empty", {1: 10, 10: 10}, {}, 20, 9, 1, 10, 10),
        ("hold-makes-it-short", {1: 100}, {1: 80}, 30, 1, 1, 10, None),
        ("fully-held-day", {1: 100, 4: 100}, {1: 100}, 50, 3, 1, 50, 4),
    ],
)  # fmt: skip
def test_infeasible(
    case: str,
    free: dict[int, int],
    held: dict[int, int],
    quantity: int,
    due: int,
    today: int,
    shortfall: int,
    earliest: int | None,
) -> None:
    state = make_line(free, *([make_hold(held)] if held else []))
    answer = ask(state, quantity, due, today)
    assert isinstance(answer, Infeasible)
    assert (answer.shortfall, answer.earliest_feasible) == (
        shortfall,
        None if earliest is None else day(earliest),
    )
    assert f"{quantity - shortfall} of {quantity} units" in answer.reason


@pytest.mark.parametrize(
    ("state", "quantity", "due", "today", "code", "reason"),
    [
        (None, 10, 3, 1, Rejection.UNKNOWN_LINE, "no capacity has been published"),
        (None, 0, 1, 3, Rejection.UNKNOWN_LINE, "no capacity"),  # the line is checked first
        (make_line({1: 100}), 0, 3, 1, Rejection.QUANTITY_NOT_POSITIVE, "positive, not 0"),
        (make_line({1: 100}), -5, 3, 1, Rejection.QUANTITY_NOT_POSITIVE, "positive, not -5"),
        (make_line({1: 100}), 10, 2, 3, Rejection.DUE_BEFORE_TODAY, "2026-05-02 is before today"),
    ],
)
def test_requests_that_cannot_be_checked_are_rejected_with_a_reason(
    state: LineCapacity | None, quantity: int, due: int, today: int, code: Rejection, reason: str
) -> None:
    answer = ask(state, quantity, due, today)
    assert isinstance(answer, Rejected)
    assert answer.code is code
    assert reason in answer.reason


def test_an_expired_hold_no_longer_subtracts() -> None:
    state = make_line({1: 100}, make_hold({1: 100}, expires_at=NOW))  # expired at NOW exactly
    assert ask(state, 100, 1) == Feasible(day(1), days({1: 100}))
    assert check(state, quantity=100, due=day(1), today=day(1), now=NOW - timedelta(seconds=1)) == (
        Infeasible(
            "0 of 100 units free from 2026-05-01 through 2026-05-01; no published date covers it",
            100,
            None,
        )
    )


# ---------------------------------------------------------------- updates


def test_an_older_update_arriving_late_does_not_overwrite_a_newer_one() -> None:
    newer = make_update({1: 50}, as_of=T0 + timedelta(hours=2))
    older = make_update({1: 100, 2: 30}, as_of=T0 + timedelta(hours=1))
    state = apply_update(apply_update(None, newer), older)
    assert {d: r.free for d, r in state.days.items()} == days({1: 50, 2: 30})
    assert state.days[day(1)].as_of == newer.as_of
    assert state.as_of == newer.as_of
    assert apply_update(apply_update(None, older), newer) == state  # arrival order does not matter


def test_a_newer_update_replaces_the_dates_it_names_only() -> None:
    state = make_line({1: 100, 2: 100, 3: 100})
    state = apply_update(state, make_update({2: 0, 4: 70}, as_of=T0 + timedelta(minutes=1)))
    assert {d: r.free for d, r in state.days.items()} == days({1: 100, 2: 0, 3: 100, 4: 70})


@pytest.mark.parametrize(
    "again",
    [make_update({1: 100}), make_update({1: 999})],
    ids=["redelivered", "conflicting-same-as_of"],
)
def test_an_update_with_an_equal_as_of_changes_nothing(again: CapacityUpdate) -> None:
    state = make_line({1: 100})
    assert apply_update(state, again) == state


def test_product_family_and_products_come_from_the_newest_update_that_names_them() -> None:
    state = apply_update(None, make_update({1: 1}, product_family="gears"))
    state = apply_update(
        state, make_update({1: 1}, as_of=T0 - timedelta(days=1), product_family="x")
    )
    state = apply_update(state, make_update({1: 1}, as_of=T0 + timedelta(days=1)))
    assert (state.product_family, state.products) == ("gears", frozenset({"gears"}))
    later = make_update({1: 1}, as_of=T0 + timedelta(days=2), products=frozenset({"g1", "g2"}))
    assert apply_update(state, later).products == {"g1", "g2"}


def test_a_line_is_keyed_by_its_plant() -> None:
    state = apply_update(None, CapacityUpdate("l1", T0, days({1: 5}), plant="kyoto"))
    assert state.line == "kyoto/l1"
    with pytest.raises(CapacityError, match=r"is 'osaka/l1', but this is line 'kyoto/l1'"):
        apply_update(state, CapacityUpdate("l1", T0, days({1: 5}), plant="osaka"))


def test_an_update_for_another_line_is_refused() -> None:
    with pytest.raises(
        CapacityError, match=r"update\.line: is 'lathe-1', but this is line 'press-3'"
    ):
        apply_update(make_line({1: 1}), CapacityUpdate("lathe-1", T0, {}))


# ---------------------------------------------------------------- holds


@pytest.mark.parametrize("freed_by", ["release", "expiry"])
def test_the_same_units_are_not_granted_twice_until_the_first_hold_goes(freed_by: str) -> None:
    state = make_line({1: 60, 2: 40})
    first = check(state, quantity=80, due=day(2), today=TODAY, now=NOW)
    assert isinstance(first, Feasible)
    state = place_hold(
        state, Hold("h1", LINE, first.allocations, NOW + timedelta(hours=1), "t1"), now=NOW
    )

    assert isinstance(ask(state, 80, 2), Infeasible)
    second = Hold("h2", LINE, first.allocations, NOW + timedelta(hours=2), "t2")
    with pytest.raises(HoldRefusedError, match="60 units asked on 2026-05-01, only 0 available"):
        place_hold(state, second, now=NOW)

    later = NOW
    if freed_by == "release":
        state = release_hold(state, "h1")
    else:
        later = NOW + timedelta(hours=1)
        state, expired = expire_holds(state, later)
        assert [hold.hold_id for hold in expired] == ["h1"]
    regranted = check(state, quantity=80, due=day(2), today=TODAY, now=later)
    assert regranted == first
    assert set(place_hold(state, second, now=later).holds) == {"h2"}


def test_a_refusal_says_which_date_and_how_many() -> None:
    state = make_line({1: 50, 2: 50}, make_hold({2: 45}))
    with pytest.raises(HoldRefusedError) as refused:
        place_hold(state, make_hold({1: 10, 2: 10}, hold_id="h2"), now=NOW)
    error = refused.value
    assert (error.hold_id, error.day, error.requested, error.available) == ("h2", day(2), 10, 5)
    assert isinstance(error, HandoffError)


@pytest.mark.parametrize(
    ("hold", "message"),
    [
        (make_hold({5: 1}), r"1 units asked on 2026-05-05, only 0 available"),  # unpublished date
        (make_hold({1: 1}, expires_at=NOW), "expires at .* not after"),
        (make_hold({1: 2}, hold_id="h0"), "hold h0: already placed with other terms"),
        (Hold("h9", "lathe-1", days({1: 1}), NOW + timedelta(hours=1), "t"), "is 'lathe-1'"),
    ],
)
def test_holds_that_cannot_be_placed(hold: Hold, message: str) -> None:
    state = make_line({1: 100}, make_hold({1: 1}, hold_id="h0"))
    with pytest.raises(CapacityError, match=message):
        place_hold(state, hold, now=NOW)


def test_placing_the_same_hold_again_is_a_no_op() -> None:
    hold = make_hold({1: 100})
    state = make_line({1: 100}, hold)
    assert place_hold(state, hold, now=NOW) is state


def test_releasing_an_unknown_hold_is_a_no_op() -> None:
    state = make_line({1: 100}, make_hold({1: 10}))
    assert release_hold(state, "nope") is state
    assert release_hold(release_hold(state, "h1"), "h1") == make_line({1: 100})


def test_expire_holds_returns_the_expired_ones_and_keeps_the_rest() -> None:
    soon = make_hold({1: 10}, hold_id="soon", expires_at=NOW)
    later = make_hold({1: 10}, hold_id="later", expires_at=NOW + timedelta(seconds=1))
    state = make_line({1: 100}, later, soon)
    kept, expired = expire_holds(state, NOW)
    assert expired == (soon,)
    assert list(kept.holds) == ["later"]
    assert expire_holds(kept, NOW) == (kept, ())


# ---------------------------------------------------------------- updates after holds

LATER, EARLIER, H1 = T0 + timedelta(hours=1), T0 - timedelta(hours=1), frozenset({"h1"})


@pytest.mark.parametrize(
    ("case", "update", "available"),
    [
        ("hold-keeps-subtracting", make_update({1: 70}, as_of=LATER), {1: 40, 2: 70}),
        ("net-of-hold", make_update({1: 70}, as_of=LATER, net_of=H1), {1: 70, 2: 70}),
        ("net-of-other-dates-only", make_update({2: 60}, as_of=LATER, net_of=H1), {1: 40, 2: 60}),
        ("overbooked-is-zero", make_update({1: 10}, as_of=LATER), {1: 0, 2: 70}),
        ("stale-net-of-ignored", make_update({1: 70}, as_of=EARLIER, net_of=H1), {1: 40, 2: 70}),
    ],
)  # fmt: skip
def test_a_published_figure_is_free_before_holds_unless_it_says_net_of(
    case: str, update: CapacityUpdate, available: dict[int, int]
) -> None:
    state = apply_update(make_line({1: 70, 2: 70}, make_hold({1: 30})), update)
    assert {d: state.available_on(d, NOW) for d in state.days} == days(available)


def test_a_newer_figure_without_net_of_makes_the_hold_subtract_again() -> None:
    state = make_line({1: 70}, make_hold({1: 30}))
    netted = make_update({1: 70}, as_of=LATER, net_of=H1)
    plain = make_update({1: 70}, as_of=T0 + timedelta(hours=2))
    assert apply_update(apply_update(state, netted), plain).available_on(day(1), NOW) == 40


def test_forget_before_drops_old_figures_only() -> None:
    state = forget_before(make_line({1: 10, 2: 20, 3: 30}, make_hold({1: 5})), day(2))
    assert list(state.days) == [day(2), day(3)]
    assert list(state.holds) == ["h1"]
    assert ask(state, 50, 3, today=2) == Feasible(day(3), days({2: 20, 3: 30}))


# ---------------------------------------------------------------- serialisation


def test_state_round_trips_through_json() -> None:
    tokyo = timezone(timedelta(hours=9))
    state = make_line({1: 70, 2: 80}, make_hold({1: 30}), make_hold({2: 5}, hold_id="h2"))
    state = apply_update(
        state,
        CapacityUpdate(
            LINE,
            datetime(2026, 5, 1, 18, 0, tzinfo=tokyo),
            days({2: 90}),
            net_of=frozenset({"h2"}),
        ),
    )
    doc = json.loads(json.dumps(state.to_dict()))
    assert doc["days"]["2026-05-02"] == {
        "free": 90,
        "as_of": "2026-05-01T18:00:00+09:00",
        "net_of": ["h2"],
    }
    assert LineCapacity.from_dict(doc) == state
    assert LineCapacity.from_dict(doc).to_dict() == doc


@pytest.mark.parametrize("value", [make_update({1: 5, 3: 0}, plant="p"), make_hold({2: 7})])
def test_updates_and_holds_round_trip_through_json(value: CapacityUpdate | Hold) -> None:
    doc = json.loads(json.dumps(value.to_dict()))
    assert type(value).from_dict(doc) == value


def test_an_update_written_in_yaml_is_accepted() -> None:
    doc = yaml.safe_load(
        """
        line: press-3
        as_of: 2026-05-01T08:00:00+00:00
        free: {2026-05-01: 100, 2026-05-02: 0}
        plant: kyoto
        """
    )
    assert CapacityUpdate.from_dict(doc) == make_update({1: 100, 2: 0}, plant="kyoto")


GOOD_UPDATE = {"line": LINE, "as_of": "2026-05-01T08:00:00+00:00", "free": {"2026-05-01": 1}}


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        ({"line": ""}, "update.line", "non-empty string"),
        ({"as_of": "2026-05-01T08:00:00"}, "update.as_of", "no time zone"),
        ({"as_of": "yesterday"}, "update.as_of", "not an ISO date-time"),
        ({"as_of": 17}, "update.as_of", "not a date-time"),
        ({"free": []}, "update.free", "must be a mapping"),
        ({"free": {"2026-05-01": -1}}, "update.free[2026-05-01]", ">= 0, not -1"),
        ({"free": {"2026-05-01": True}}, "update.free[2026-05-01]", "not True"),
        ({"free": {"2026-05-01": 1.5}}, "update.free[2026-05-01]", "not 1.5"),
        ({"free": {"May 1st": 1}}, "update.free", "not an ISO date"),
        ({"free": {"2026-05-01": 1, "20260501": 2}}, "update.free[20260501]", "given twice"),
        ({"net_of": "h1"}, "update.net_of", "list of ids"),
        ({"plant": 3}, "update.plant", "non-empty string"),
    ],
)
def test_bad_updates_say_where_and_why(change: dict[str, object], where: str, reason: str) -> None:
    with pytest.raises(CapacityError) as error:
        CapacityUpdate.from_dict({**GOOD_UPDATE, **change})
    assert error.value.where == where
    assert reason in error.value.reason


GOOD_HOLD = make_hold({1: 5}).to_dict()


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        ({"allocations": {}}, "hold.allocations", "at least one date"),
        ({"allocations": {"2026-05-01": 0}}, "hold.allocations[2026-05-01]", ">= 1, not 0"),
        ({"expires_at": "2026-05-01T10:00"}, "hold.expires_at", "no time zone"),
        ({"task_id": None}, "hold.task_id", "non-empty string"),
    ],
)
def test_bad_holds_say_where_and_why(change: dict[str, object], where: str, reason: str) -> None:
    with pytest.raises(CapacityError) as error:
        Hold.from_dict({**GOOD_HOLD, **change})
    assert error.value.where == where
    assert reason in error.value.reason


AS_OF = T0.isoformat()
NEGATIVE = {"days": {"2026-05-01": {"free": -1, "as_of": AS_OF}}}
GOOD_STATE = make_line({1: 10}, make_hold({1: 5})).to_dict()


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        (NEGATIVE, "state.days[2026-05-01].free", "whole number of units >= 0, not -1"),
        ({"days": {"someday": {"free": 1, "as_of": AS_OF}}}, "state.days", "not an ISO date"),
        ({"holds": {}}, "state.holds", "list of holds"),
        ({"holds": [GOOD_HOLD, GOOD_HOLD]}, "state.holds", "unique"),
        ({"holds": [{**GOOD_HOLD, "line": "lathe-1"}]}, "state.holds[h1].line", "is 'lathe-1'"),
        ({"holds": [{**GOOD_HOLD, "expires_at": 0}]}, "state.holds[0].expires_at", "date-time"),
        ({"as_of": "now"}, "state.as_of", "not an ISO date-time"),
    ],
)  # fmt: skip
def test_bad_stored_state_says_where_and_why(
    change: dict[str, object], where: str, reason: str
) -> None:
    with pytest.raises(CapacityError) as error:
        LineCapacity.from_dict({**GOOD_STATE, **change})
    assert error.value.where == where
    assert reason in error.value.reason


# ---------------------------------------------------------------- property


def _held(state: LineCapacity, d: date, now: datetime) -> int:
    """Independent of the module: units of the active holds on ``d``."""
    return sum(h.allocations.get(d, 0) for h in state.holds.values() if now < h.expires_at)


@pytest.mark.parametrize("seed", range(25))
def test_random_requests_never_allocate_more_than_published(seed: int) -> None:
    rng = random.Random(seed)
    now, as_of = NOW, T0
    state = apply_update(None, make_update({n: rng.randint(0, 100) for n in range(1, 15)}))
    grants = 0
    for step in range(300):
        op = rng.choice(["request", "request", "grab", "release", "tick", "update", "stale"])
        today = (now - NOW).days + 1
        if op == "request":
            due = today + rng.randint(0, 10)
            answer = ask(state, rng.randint(1, 150), due, today) if due <= 31 else None
            if isinstance(answer, Feasible):
                expires = now + timedelta(minutes=rng.randint(1, 600))
                hold = Hold(f"r{step}", LINE, answer.allocations, expires, f"t{step}")
                state = place_hold(state, hold, now=now)  # a Feasible answer always fits
                grants += 1
        elif op == "grab":
            wanted = {day(rng.randint(1, 16)): rng.randint(1, 60) for _ in range(rng.randint(1, 3))}
            free = {d: state.days[d].free if d in state.days else 0 for d in wanted}
            fits = all(units <= free[d] - _held(state, d, now) for d, units in wanted.items())
            hold = Hold(f"g{step}", LINE, wanted, now + timedelta(minutes=30), f"t{step}")
            try:
                state = place_hold(state, hold, now=now)
                assert fits
                grants += 1
            except HoldRefusedError:
                assert not fits
        elif op == "release" and state.holds:
            state = release_hold(state, rng.choice(sorted(state.holds)))
        elif op == "tick":
            now += timedelta(minutes=rng.randint(1, 240))
            state, expired = expire_holds(state, now)
            assert all(not h.expires_at > now for h in expired)
        elif op in ("update", "stale"):
            as_of += timedelta(minutes=1)
            when = as_of if op == "update" else T0 - timedelta(minutes=step)
            n = rng.randint(1, 16)
            floor = _held(state, day(n), now)  # the plant never publishes below what is held
            update = make_update({n: floor + rng.randint(0, 50)}, as_of=when)
            before = state.days.get(day(n))
            state = apply_update(state, update)
            if op == "stale" and before is not None:
                assert state.days[day(n)] == before
        for d, record in state.days.items():
            assert _held(state, d, now) <= record.free, (seed, step, d)
        assert all(d in state.days for h in state.holds.values() for d in h.allocations)
    assert grants > 10  # the run exercised granting, not just refusals
