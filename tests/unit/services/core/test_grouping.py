from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.core.grouping import (
    AccountChange,
    AccountIndex,
    Admission,
    GroupChange,
    GroupedTask,
    GroupEvent,
    Outcome,
    RelatedTask,
    TaskClosed,
    TaskDropped,
    TaskHanded,
    TaskIndexed,
    admit,
    change_group,
    index_task,
    related,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = 'component="billing-ui"'


def make_event(
    event_id: str, account: str = "acme.com", requester: str | None = None, minute: int = 0
) -> GroupEvent:
    requester = requester if requester is not None else f"{event_id}@{account}"
    return GroupEvent(event_id, account, requester or None, T0 + timedelta(minutes=minute))


def feed(
    events: list[GroupEvent], current: GroupedTask | None = None, max_ids: int = 1000
) -> tuple[GroupedTask, list[Admission]]:
    admissions = []
    for event in events:
        admission = admit(current, KEY, event, task_id=f"task-{event.event_id}", max_ids=max_ids)
        admissions.append(admission)
        current = admission.task
    assert current is not None
    return current, admissions


@pytest.mark.parametrize(
    ("events", "outcomes", "counts", "summary"),
    [
        ([make_event("e1")], ["opened"], (1, 1, 1), "1 request from 1 requester, 1 account"),
        (
            [make_event("e1"), make_event("e2"), make_event("e3", "globex.jp")],
            ["opened", "joined", "joined"],
            (3, 3, 2),
            "3 requests from 3 requesters, 2 accounts",
        ),
        (  # the same event delivered twice changes nothing
            [make_event("e1"), make_event("e2"), make_event("e1"), make_event("e2")],
            ["opened", "joined", "duplicate", "duplicate"],
            (2, 2, 1),
            "2 requests from 2 requesters, 1 account",
        ),
        (  # one requester asking twice is one requester
            [
                make_event("e1", requester="taro@acme.com"),
                make_event("e2", requester="taro@acme.com"),
            ],
            ["opened", "joined"],
            (2, 1, 1),
            "2 requests from 1 requester, 1 account",
        ),
        (  # no requester: counted as a request, not as a requester
            [make_event("e1", requester=""), make_event("e2", requester="")],
            ["opened", "joined"],
            (2, 0, 1),
            "2 requests from 0 requesters, 1 account",
        ),
    ],
)
def test_events_open_then_join_the_groups_task(
    events: list[GroupEvent], outcomes: list[str], counts: tuple[int, int, int], summary: str
) -> None:
    task, admissions = feed(events)
    assert [a.outcome.value for a in admissions] == outcomes
    assert {a.task.task_id for a in admissions} == {"task-e1"}
    assert (task.event_count, len(task.requesters), len(task.accounts)) == counts
    assert task.event_ids == tuple(dict.fromkeys(e.event_id for e in events))
    assert task.summary() == summary


def test_the_story_summary() -> None:
    accounts = ["acme.com", "globex.jp", "initech.com"]
    events = [make_event(f"e{n}", accounts[n % 3], f"r{n % 9}@x") for n in range(14)]
    task, _ = feed(events)
    assert task.summary() == "14 requests from 9 requesters, 3 accounts"
    assert task.accounts == tuple(accounts)  # first seen first


def test_a_duplicate_returns_the_very_same_task() -> None:
    task, _ = feed([make_event("e1"), make_event("e2")])
    again = admit(task, KEY, make_event("e1"), task_id="task-other")
    assert again == Admission(task, Outcome.DUPLICATE, new_account=False)
    assert again.task is task


def test_new_account_tells_the_caller_to_index_the_task_under_it() -> None:
    _, admissions = feed(
        [make_event("e1", "acme.com"), make_event("e2", "acme.com"), make_event("e3", "globex.jp")]
    )
    assert [a.new_account for a in admissions] == [True, False, True]


def test_times_span_out_of_order_events() -> None:
    task, _ = feed([make_event("e1", minute=5), make_event("e2", minute=1), make_event("e3")])
    assert (task.first_at, task.last_at) == (T0, T0 + timedelta(minutes=5))


@pytest.mark.parametrize("state", ["resolved", "rejected"])
def test_closing_frees_the_group_key(state: str) -> None:
    task, _ = feed([make_event("e1"), make_event("e2")])
    closed = task.close(state, T0 + timedelta(hours=1))
    assert (closed.is_open, closed.state, closed.closed_at) == (
        False,
        state,
        T0 + timedelta(hours=1),
    )
    reopened = admit(closed, KEY, make_event("e3"), task_id="task-e3")
    assert reopened.outcome is Outcome.OPENED
    assert (reopened.task.task_id, reopened.task.event_ids) == ("task-e3", ("e3",))
    assert reopened.task.is_open


def test_a_redelivered_event_of_a_closed_task_opens_nothing() -> None:
    task, _ = feed([make_event("e1"), make_event("e2")])
    closed = task.close("resolved", T0)
    assert admit(closed, KEY, make_event("e2"), task_id="task-e2").outcome is Outcome.DUPLICATE


def test_closing_twice_keeps_the_first_close() -> None:
    closed = feed([make_event("e1")])[0].close("resolved", T0)
    assert closed.close("rejected", T0 + timedelta(days=1)) is closed


def test_ids_are_bounded_and_the_overflow_counted() -> None:
    events = [make_event(f"e{n}", f"a{n}.com") for n in range(5)]
    task, _ = feed(events, max_ids=3)
    assert task.event_ids == ("e2", "e3", "e4")  # the most recent, oldest first
    assert (task.event_count, task.event_ids_dropped) == (5, 2)
    assert task.accounts == ("a0.com", "a1.com", "a2.com")
    assert (task.accounts_capped, task.requesters_capped) == (True, True)
    assert task.summary() == "5 requests from 3+ requesters, 3+ accounts"
    assert admit(task, KEY, make_event("e4"), task_id="x").outcome is Outcome.DUPLICATE


def test_under_the_cap_nothing_is_dropped_or_capped() -> None:
    task, _ = feed([make_event(f"e{n}") for n in range(3)], max_ids=3)
    assert (task.event_ids_dropped, task.accounts_capped, task.requesters_capped) == (
        0,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (lambda: GroupEvent("e1", "acme.com", None, datetime(2026, 3, 2, 9)), "timezone-aware"),
        (lambda: feed([make_event("e1")], max_ids=0), "at least 1"),
        (lambda: feed([make_event("e1")])[0].close("open", T0), "closes as one of"),
        (lambda: feed([make_event("e1")])[0].close("resolved", datetime(2026, 3, 2)), "aware"),
        (lambda: feed([make_event("e1")])[0].close("resolved", T0).join(make_event("e2")),
         "is resolved; events cannot join"),
        (lambda: admit(feed([make_event("e1")])[0], "other", make_event("e2"), task_id="t"),
         "belongs to group"),
    ],
)  # fmt: skip
def test_misuse_is_refused(action: Callable[[], object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        action()


def test_operations_return_new_values() -> None:
    task, _ = feed([make_event("e1")])
    before = task.to_dict()
    task.join(make_event("e2"))
    task.close("resolved", T0)
    assert task.to_dict() == before


def _through_json(data: object) -> object:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize("close", [False, True])
def test_grouped_task_round_trips_through_json(close: bool) -> None:
    task, _ = feed(
        [make_event("e1", minute=3), make_event("e2", "globex.jp", requester=""),
         make_event("e3", minute=-2)],
        max_ids=2,
    )  # fmt: skip
    if close:
        task = task.close("rejected", datetime(2026, 3, 2, 18, tzinfo=timezone(timedelta(hours=9))))
    else:
        task = task.reassign("platform")
    data = _through_json(task.to_dict())
    assert isinstance(data, dict)
    assert GroupedTask.from_dict(data) == task
    restored = GroupedTask.from_dict(data)
    assert admit(restored, KEY, make_event("e3"), task_id="x").outcome is Outcome.DUPLICATE


def make_index() -> AccountIndex:
    return (
        AccountIndex()
        .add("t1", "acme.com", "support-l2", "open")
        .add("t2", "globex.jp", "production-planning", "open")
        .add("t3", "acme.com", "production-planning", "acknowledged")
        .add("t4", "acme.com", "billing", "open")
        .add("t4", "globex.jp", "billing", "open")  # a grouped task spanning two accounts
    )


@pytest.mark.parametrize(
    ("account", "exclude", "related"),
    [
        ("acme.com", None, ["t1", "t3", "t4"]),  # oldest first
        ("acme.com", "t3", ["t1", "t4"]),
        ("globex.jp", "t2", ["t4"]),
        ("globex.jp", "t4", ["t2"]),
        ("initech.com", None, []),
    ],
)
def test_related_tasks_of_an_account(account: str, exclude: str | None, related: list[str]) -> None:
    assert [t.task_id for t in make_index().related(account, exclude)] == related


def test_related_carries_team_and_state() -> None:
    assert make_index().related("acme.com", "t1")[0] == RelatedTask(
        "t3", "production-planning", "acknowledged"
    )


def test_adding_again_refreshes_in_place() -> None:
    index = make_index().add("t1", "acme.com", "support-l2", "acknowledged")
    assert [(t.task_id, t.state) for t in index.related("acme.com")] == [
        ("t1", "acknowledged"), ("t3", "acknowledged"), ("t4", "open"),
    ]  # fmt: skip
    assert index.add("t1", "acme.com", "support-l2", "acknowledged") == index


def test_state_changes_reach_every_account_of_the_task() -> None:
    index = make_index().update_state("t4", "in_progress")
    states = [(a, t.state) for a in ("acme.com", "globex.jp") for t in index.related(a, "t1")]
    assert states == [
        ("acme.com", "acknowledged"), ("acme.com", "in_progress"),
        ("globex.jp", "open"), ("globex.jp", "in_progress"),
    ]  # fmt: skip
    assert index.update_state("nope", "resolved") == index


def test_closing_removes_the_task_everywhere() -> None:
    index = make_index().close("t4").close("t2")
    assert [t.task_id for t in index.related("acme.com")] == ["t1", "t3"]
    assert index.related("globex.jp") == ()
    assert "globex.jp" not in index.tasks  # no empty accounts left behind
    assert index.close("t4") == index


def test_account_index_operations_return_new_values() -> None:
    index = make_index()
    before = index.to_dict()
    index.add("t9", "acme.com", "x", "open").update_state("t1", "resolved").close("t3")
    assert index.to_dict() == before


def test_account_index_round_trips_through_json() -> None:
    index = make_index()
    data = _through_json(index.to_dict())
    assert isinstance(data, dict)
    restored = AccountIndex.from_dict(data)
    assert restored == index
    assert restored.related("acme.com") == index.related("acme.com")


def test_a_reassigned_task_keeps_its_events_and_names_its_new_team() -> None:
    task, _ = feed([make_event("e1"), make_event("e2")])
    assert task.team is None
    moved = task.reassign("platform")
    assert (moved.team, moved.task_id, moved.event_count) == ("platform", task.task_id, 2)
    joined = admit(moved, KEY, make_event("e3"), task_id="x")
    assert (joined.outcome, joined.task.team) == (Outcome.JOINED, "platform")


def test_reassigning_in_the_account_index_changes_the_team_everywhere() -> None:
    index = make_index().reassign("t4", "platform")
    assert [(t.task_id, t.team) for t in index.related("acme.com")] == [
        ("t1", "support-l2"), ("t3", "production-planning"), ("t4", "platform"),
    ]  # fmt: skip
    assert [t.team for t in index.related("globex.jp", "t2")] == ["platform"]
    assert make_index().reassign("t9", "platform") == make_index()


# --- changes to a group's task and an account's index, table-driven -------------------

T_CLOSE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPEN_TASK = GroupedTask.open("t1", "g", GroupEvent("e1", "acme", "a@acme.example", T_CLOSE))
INDEX = AccountIndex().add("t1", "acme", "l2", "open").add("t2", "acme", "l2", "open")

GROUP_CHANGES: list[tuple[str, GroupedTask | None, GroupChange, GroupedTask | None]] = [
    # name, the group's task, change, the task after it (None: nothing to write)
    ("no task", None, TaskHanded("t1", "billing"), None),
    ("handed", OPEN_TASK, TaskHanded("t1", "billing"), OPEN_TASK.reassign("billing")),
    (
        "resolved",
        OPEN_TASK,
        TaskClosed("t1", "resolved", T_CLOSE),
        OPEN_TASK.close("resolved", T_CLOSE),
    ),
    (
        "rejected",
        OPEN_TASK,
        TaskClosed("t1", "rejected", T_CLOSE),
        OPEN_TASK.close("rejected", T_CLOSE),
    ),
    (
        "any other state resolves",
        OPEN_TASK,
        TaskClosed("t1", "None", T_CLOSE),
        OPEN_TASK.close("resolved", T_CLOSE),
    ),
    ("another task of the group", OPEN_TASK, TaskHanded("t0", "billing"), None),
    ("closed already", OPEN_TASK.close("resolved", T_CLOSE), TaskHanded("t1", "billing"), None),
]


@pytest.mark.parametrize(
    ("task", "change", "after"),
    [row[1:] for row in GROUP_CHANGES],
    ids=[row[0] for row in GROUP_CHANGES],
)
def test_change_group(
    task: GroupedTask | None, change: GroupChange, after: GroupedTask | None
) -> None:
    assert change_group(task, change) == after


ACCOUNT_CHANGES: list[tuple[str, AccountIndex | None, AccountChange, dict[str, list[str]]]] = [
    # name, index, change, the account's tasks after it as "task:team:state"
    ("first task", None, TaskIndexed("t1", "l2"), {"acme": ["t1:l2:open"]}),
    (
        "another",
        INDEX,
        TaskIndexed("t3", "billing"),
        {"acme": ["t1:l2:open", "t2:l2:open", "t3:billing:open"]},
    ),
    (
        "reopened keeps its place",
        INDEX,
        TaskIndexed("t1", "l2", "reopened"),
        {"acme": ["t1:l2:reopened", "t2:l2:open"]},
    ),
    ("dropped", INDEX, TaskDropped("t1"), {"acme": ["t2:l2:open"]}),
    ("the last dropped", AccountIndex().add("t1", "acme", "l2", "open"), TaskDropped("t1"), {}),
    ("handed", INDEX, TaskHanded("t2", "billing"), {"acme": ["t1:l2:open", "t2:billing:open"]}),
    ("unknown task", INDEX, TaskHanded("t9", "billing"), {"acme": ["t1:l2:open", "t2:l2:open"]}),
]


@pytest.mark.parametrize(
    ("index", "change", "after"),
    [row[1:] for row in ACCOUNT_CHANGES],
    ids=[row[0] for row in ACCOUNT_CHANGES],
)
def test_index_task(
    index: AccountIndex | None, change: AccountChange, after: dict[str, list[str]]
) -> None:
    changed = index_task(index, "acme", change)
    listed = {a: [f"{t.task_id}:{t.team}:{t.state}" for t in ts] for a, ts in changed.tasks.items()}
    assert listed == after


def test_related_is_the_most_recent_oldest_first() -> None:
    index = AccountIndex()
    for n in range(5):
        index = index.add(f"t{n}", "acme", "l2", "open")
    assert [t.task_id for t in related(index, "acme", 3)] == ["t2", "t3", "t4"]
    assert related(index, "nobody", 3) == ()
