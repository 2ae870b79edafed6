"""``ActiveTasks``: sorted deadlines patched task by task count what a look at every task
counts, for any window and moment (the kept half of ``services.api.active_kept``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.api.active_kept import FOREVER, MAX_WINDOWS, ActiveTasks, Due, micros
from services.api.rollup_reads import Window

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEAMS = ("billing", "planning", "payments")
WINDOWS = (
    Window(),
    Window(team="planning"),
    Window(since=NOW - timedelta(days=1)),  # few inside: counted one by one
    Window(since=NOW - timedelta(days=25)),  # most inside: all, less those outside
    Window(since=NOW - timedelta(days=9), until=NOW - timedelta(days=2), team="billing"),
    Window(department="sales"),
    Window(until=NOW - timedelta(days=3), department="support"),
    Window(since=NOW - timedelta(days=7), department="sales"),  # a kept window, one department
    Window(since=NOW - timedelta(days=7), team="payments"),  # the same start, another filter
)


def a_task(rng: random.Random) -> Due:
    raised = NOW - timedelta(minutes=rng.randrange(30 * 24 * 60))
    due = raised + timedelta(hours=rng.choice((1, 4, 8, 24, 72)))
    resolve_by = rng.choice((None, raised + timedelta(days=3), due - timedelta(hours=1)))
    department = rng.choice(("support", "sales", None))
    return Due(
        key=(department or "support", rng.choice(TEAMS), rng.choice(("team", "router"))),
        department=department,
        raised_at=micros(raised),
        sla_due=micros(due),
        acknowledge_due=rng.choice((micros(due), None)),
        resolve_due=max(micros(due), micros(resolve_by or due)),
    )


def looked_at(tasks: dict[str, Due], now: datetime, window: Window) -> dict[object, object]:
    at, out = micros(now), {}
    for due in tasks.values():
        if window.since is not None and due.raised_at < micros(window.since):
            continue
        if window.until is not None and due.raised_at >= micros(window.until):
            continue
        if window.team not in (None, due.key[1]) or window.department not in (None, due.department):
            continue
        late = int(due.acknowledge_due is not None and due.acknowledge_due <= at)
        unresolved = int(due.resolve_due <= at)
        was = out.get(due.key, (0, 0))
        out[due.key] = (was[0] + late, was[1] + unresolved)
    return {key: value for key, value in out.items() if value != (0, 0)}


def standing_looked_at(tasks: dict[str, Due], now: datetime) -> dict[object, int]:
    out: dict[object, int] = {}
    for due in tasks.values():
        at = micros(now)
        line = (
            "breached"
            if due.sla_due < at
            else "at_risk"
            if due.sla_due < at + 3600 * 10**6
            else "ok"
        )
        out[(due.key[1], line)] = out.get((due.key[1], line), 0) + 1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_patched_task_by_task_counts_what_a_look_at_every_task_counts(seed: int) -> None:
    rng = random.Random(seed)
    truth = {f"t{n}": a_task(rng) for n in range(400)}
    kept = ActiveTasks.of(truth.items())
    for window in WINDOWS:  # the windows without an end kept from here on, patched with the rest
        kept.overdue(NOW, window)
    for step in range(300):  # changed, closed, new; a task put twice as it is
        task_id = f"t{rng.randrange(500)}"
        due = None if rng.random() < 0.3 else a_task(rng)
        if step % 50 == 0 and task_id in truth:
            due = truth[task_id]
        kept.put(task_id, due)
        if due is None:
            truth.pop(task_id, None)
        else:
            truth[task_id] = due
    assert len(kept) == len(truth)
    for now in (NOW - timedelta(days=10), NOW, NOW + timedelta(hours=2), NOW + timedelta(days=9)):
        for window in WINDOWS:
            assert kept.overdue(now, window) == looked_at(truth, now, window), (now, window)
        assert kept.standing(now, timedelta(hours=1)) == standing_looked_at(truth, now), now
        assert kept.holds_until(now, timedelta(hours=1)) == holds_looked_at(truth, now), now
        assert kept.holds_until(now, None) == next_deadline_looked_at(truth, now), now


def holds_looked_at(tasks: dict[str, Due], now: datetime) -> datetime:
    """``deadlines.holds_until``'s four queries, over the tasks: the first SLA deadline at or
    after ``now`` or after ``now`` + 1 h (less the hour), the first resolve deadline after."""
    at, hour = micros(now), 3600 * 10**6
    found = [due.sla_due for due in tasks.values() if due.sla_due >= at]
    found += [due.sla_due - hour for due in tasks.values() if due.sla_due >= at + hour]
    found += [due.resolve_due for due in tasks.values() if due.resolve_due > at]
    return (
        FOREVER
        if not found
        else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=min(found))
    )


def next_deadline_looked_at(tasks: dict[str, Due], now: datetime) -> datetime:
    """``deadlines.next_deadline``'s two queries: the first SLA or resolve deadline after."""
    at = micros(now)
    found = [d for due in tasks.values() for d in (due.sla_due, due.resolve_due) if d > at]
    return (
        FOREVER
        if not found
        else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=min(found))
    )


def test_windows_pushed_out_of_the_kept_ones_are_counted_again_when_asked_for() -> None:
    rng = random.Random(7)
    truth = {f"t{n}": a_task(rng) for n in range(300)}
    kept = ActiveTasks.of(truth.items())
    starts = [Window(since=NOW - timedelta(hours=h)) for h in range(1, 3 * MAX_WINDOWS)]
    for window in starts:  # an hour-aligned start moving on, then back to the first ones
        assert kept.overdue(NOW, window) == looked_at(truth, NOW, window)
    kept.put("t1", None)
    truth.pop("t1")
    for window in starts:
        assert kept.overdue(NOW, window) == looked_at(truth, NOW, window), window


def test_nothing_active_holds_for_ever() -> None:
    assert ActiveTasks.of([]).holds_until(NOW, timedelta(hours=1)) == FOREVER


def test_equal_deadlines_count_at_the_edges_as_the_scan_does() -> None:
    due = micros(NOW)
    key = ("support", "billing", "team")
    kept = ActiveTasks.of(
        [(f"t{n}", Due(key, "support", due - 10, due, due, due)) for n in range(3)]
    )
    assert kept.overdue(NOW, Window()) == {key: (3, 3)}  # "sla_due <= now"
    assert kept.overdue(NOW - timedelta(microseconds=1), Window()) == {}
    assert kept.standing(NOW, timedelta(hours=1)) == {("billing", "at_risk"): 3}  # "< now"
    assert kept.standing(NOW + timedelta(microseconds=1), timedelta(hours=1)) == {
        ("billing", "breached"): 3
    }


def test_the_window_asked_for_at_every_version_stays_kept_among_many_asked_once() -> None:
    rng = random.Random(8)
    kept = ActiveTasks.of((f"t{n}", a_task(rng)) for n in range(100))
    overview = Window(since=NOW - timedelta(days=7))
    for h in range(1, 4 * MAX_WINDOWS):  # an API client's starts, each asked once
        kept.overdue(NOW, overview)
        kept.overdue(NOW, Window(since=NOW - timedelta(hours=h)))
    assert len(kept._since) == MAX_WINDOWS
    assert (micros(overview.since or NOW), None) in kept._since
