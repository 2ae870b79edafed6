"""Grouping and account context: pure values that the router keeps in tables.

Events with the same group key join the group's open task instead of opening
a new one; the task counts events, distinct accounts and requesters and
keeps the event ids. ``AccountIndex`` lists each account's open tasks so
that every routed task can carry the others as ``related``.

The changes the router sends between its own topics are values here too:
``TaskIndexed`` / ``TaskDropped`` / ``TaskHanded`` for an account's index
(:func:`index_task`), ``TaskClosed`` / ``TaskHanded`` for a group's task
(:func:`change_group`).

Every operation returns a new value and never mutates one; ``to_dict`` /
``from_dict`` turn values into JSON-ready plain data and back. The state is
one ``GroupedTask`` per group key rather than one aggregate of all groups, so
a table keyed by group key holds small values and a worker only ever loads
the groups it routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

DEFAULT_MAX_IDS = 1000
CLOSED_STATES = frozenset({"resolved", "rejected"})
OPEN = "open"


@dataclass(frozen=True)
class GroupEvent:
    """What grouping needs to know about an incoming event."""

    event_id: str
    account: str
    requester: str | None
    at: datetime

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError(f"event {self.event_id!r}: time must be timezone-aware")


class Outcome(Enum):
    OPENED = "opened"
    JOINED = "joined"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class GroupedTask:
    """One task for every event of a group while it is open.

    ``event_ids`` keeps the most recent ``max_ids`` ids (oldest first) and
    ``event_ids_dropped`` counts the older ones no longer kept; a redelivered
    event is recognised while its id is kept. ``accounts`` and ``requesters``
    keep at most ``max_ids`` distinct values each; past that the ``*_capped``
    flag says their counts are lower bounds.
    """

    task_id: str
    group_key: str
    first_at: datetime
    last_at: datetime
    event_count: int
    event_ids: tuple[str, ...]
    event_ids_dropped: int
    accounts: tuple[str, ...]
    requesters: tuple[str, ...]
    accounts_capped: bool = False
    requesters_capped: bool = False
    max_ids: int = DEFAULT_MAX_IDS
    state: str = OPEN
    closed_at: datetime | None = None
    team: str | None = None  # set once reassigned: the team later events go to

    @classmethod
    def open(
        cls, task_id: str, group_key: str, event: GroupEvent, *, max_ids: int = DEFAULT_MAX_IDS
    ) -> GroupedTask:
        if max_ids < 1:
            raise ValueError(f"max_ids must be at least 1, not {max_ids}")
        requesters = (event.requester,) if event.requester else ()
        return cls(
            task_id=task_id,
            group_key=group_key,
            first_at=event.at,
            last_at=event.at,
            event_count=1,
            event_ids=(event.event_id,),
            event_ids_dropped=0,
            accounts=(event.account,),
            requesters=requesters,
            max_ids=max_ids,
        )

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    def has(self, event_id: str) -> bool:
        return event_id in self.event_ids

    def join(self, event: GroupEvent) -> GroupedTask:
        """This task with the event counted; unchanged when the event is already in it."""
        if not self.is_open:
            raise ValueError(f"task {self.task_id!r} is {self.state}; events cannot join it")
        if self.has(event.event_id):
            return self
        ids = (*self.event_ids, event.event_id)
        kept = ids[-self.max_ids :]
        accounts, accounts_capped = _add_distinct(self.accounts, event.account, self.max_ids)
        requesters, requesters_capped = _add_distinct(
            self.requesters, event.requester, self.max_ids
        )
        return replace(
            self,
            first_at=min(self.first_at, event.at),
            last_at=max(self.last_at, event.at),
            event_count=self.event_count + 1,
            event_ids=kept,
            event_ids_dropped=self.event_ids_dropped + len(ids) - len(kept),
            accounts=accounts,
            accounts_capped=self.accounts_capped or accounts_capped,
            requesters=requesters,
            requesters_capped=self.requesters_capped or requesters_capped,
        )

    def close(self, state: str, at: datetime) -> GroupedTask:
        """Resolved or rejected: the group key is free again. Closing twice changes nothing."""
        if state not in CLOSED_STATES:
            raise ValueError(f"a task closes as one of {sorted(CLOSED_STATES)}, not {state!r}")
        if at.utcoffset() is None:
            raise ValueError("closing time must be timezone-aware")
        return replace(self, state=state, closed_at=at) if self.is_open else self

    def reassign(self, team: str) -> GroupedTask:
        """Handed to ``team``: events joining from now on go to it, not to the route's team."""
        return replace(self, team=team)

    def summary(self) -> str:
        """``14 requests from 9 requesters, 3 accounts``."""
        requests = _count(self.event_count, False, "request")
        requesters = _count(len(self.requesters), self.requesters_capped, "requester")
        accounts = _count(len(self.accounts), self.accounts_capped, "account")
        return f"{requests} from {requesters}, {accounts}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "group_key": self.group_key,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "event_count": self.event_count,
            "event_ids": list(self.event_ids),
            "event_ids_dropped": self.event_ids_dropped,
            "accounts": list(self.accounts),
            "requesters": list(self.requesters),
            "accounts_capped": self.accounts_capped,
            "requesters_capped": self.requesters_capped,
            "max_ids": self.max_ids,
            "state": self.state,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "team": self.team,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupedTask:
        closed_at = data.get("closed_at")
        return cls(
            task_id=str(data["task_id"]),
            group_key=str(data["group_key"]),
            first_at=datetime.fromisoformat(data["first_at"]),
            last_at=datetime.fromisoformat(data["last_at"]),
            event_count=int(data["event_count"]),
            event_ids=tuple(str(i) for i in data["event_ids"]),
            event_ids_dropped=int(data["event_ids_dropped"]),
            accounts=tuple(str(a) for a in data["accounts"]),
            requesters=tuple(str(r) for r in data["requesters"]),
            accounts_capped=bool(data.get("accounts_capped", False)),
            requesters_capped=bool(data.get("requesters_capped", False)),
            max_ids=int(data.get("max_ids", DEFAULT_MAX_IDS)),
            state=str(data.get("state", OPEN)),
            closed_at=datetime.fromisoformat(closed_at) if closed_at else None,
            team=str(data["team"]) if data.get("team") else None,
        )


@dataclass(frozen=True)
class Admission:
    """What became of an event: the task it is now in, and how it got there.

    ``new_account`` says the event's account was not yet among the task's, so
    the caller adds the task to that account in its ``AccountIndex``.
    """

    task: GroupedTask
    outcome: Outcome
    new_account: bool


def admit(
    current: GroupedTask | None,
    group_key: str,
    event: GroupEvent,
    *,
    task_id: str,
    max_ids: int = DEFAULT_MAX_IDS,
) -> Admission:
    """Join the group's open task, or open one as ``task_id`` when there is none.

    ``current`` is what the table holds for ``group_key`` (None, open or
    closed). An event already in ``current`` -- even a closed one -- is a
    duplicate and changes nothing. ``task_id`` is only used for a new task;
    derive it from the event id so that a replay opens the same task.
    """
    if current is not None and current.group_key != group_key:
        raise ValueError(f"task {current.task_id!r} belongs to group {current.group_key!r}")
    if current is not None and current.has(event.event_id):
        return Admission(current, Outcome.DUPLICATE, new_account=False)
    if current is None or not current.is_open:
        opened = GroupedTask.open(task_id, group_key, event, max_ids=max_ids)
        return Admission(opened, Outcome.OPENED, new_account=True)
    joined = current.join(event)
    return Admission(joined, Outcome.JOINED, event.account not in current.accounts)


@dataclass(frozen=True)
class RelatedTask:
    task_id: str
    team: str
    state: str


_Change = Callable[[RelatedTask], RelatedTask | None]


@dataclass(frozen=True)
class AccountIndex:
    """The open tasks of each account, oldest first (in the order they were added to it).

    A task spanning several accounts is added to each. Keep one index for
    everything, or -- in a table keyed by account -- one per account: the
    operations are the same.
    """

    tasks: Mapping[str, tuple[RelatedTask, ...]] = field(default_factory=dict, hash=False)

    def add(self, task_id: str, account: str, team: str, state: str) -> AccountIndex:
        """Add (or refresh, keeping its place) the task under the account."""
        entry = RelatedTask(task_id, team, state)
        listed = self.tasks.get(account, ())
        if any(t.task_id == task_id for t in listed):
            updated = tuple(entry if t.task_id == task_id else t for t in listed)
        else:
            updated = (*listed, entry)
        return AccountIndex({**self.tasks, account: updated})

    def update_state(self, task_id: str, state: str) -> AccountIndex:
        """The task's new state under every account; an unknown task changes nothing."""
        return self._rebuild(lambda t: replace(t, state=state) if t.task_id == task_id else t)

    def reassign(self, task_id: str, team: str) -> AccountIndex:
        """The task is now with ``team``, under every account; an unknown task changes nothing."""
        return self._rebuild(lambda t: replace(t, team=team) if t.task_id == task_id else t)

    def close(self, task_id: str) -> AccountIndex:
        """Forget the task under every account; accounts left empty are dropped."""
        return self._rebuild(lambda t: None if t.task_id == task_id else t)

    def related(self, account: str, exclude_task_id: str | None = None) -> tuple[RelatedTask, ...]:
        return tuple(t for t in self.tasks.get(account, ()) if t.task_id != exclude_task_id)

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {
            account: [{"task_id": t.task_id, "team": t.team, "state": t.state} for t in listed]
            for account, listed in self.tasks.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountIndex:
        return cls(
            {
                str(account): tuple(
                    RelatedTask(str(t["task_id"]), str(t["team"]), str(t["state"])) for t in listed
                )
                for account, listed in data.items()
            }
        )

    def _rebuild(self, change: _Change) -> AccountIndex:
        tasks: dict[str, tuple[RelatedTask, ...]] = {}
        for account, listed in self.tasks.items():
            kept = tuple(new for new in map(change, listed) if new is not None)
            if kept:
                tasks[account] = kept
        return AccountIndex(tasks)


def _add_distinct(
    values: tuple[str, ...], value: str | None, cap: int
) -> tuple[tuple[str, ...], bool]:
    """The values with ``value`` added; True when it had to be left out for the cap."""
    if not value or value in values:
        return values, False
    if len(values) >= cap:
        return values, True
    return (*values, value), False


def _count(n: int, capped: bool, noun: str) -> str:
    return f"{n}{'+' if capped else ''} {noun}{'' if n == 1 and not capped else 's'}"


# --- changes sent to a group's task and to an account's index -------------------------


@dataclass(frozen=True)
class TaskIndexed:
    """The task is (again) one of the account's: ``state`` is ``open`` or ``reopened``."""

    task_id: str
    team: str
    state: str = OPEN


@dataclass(frozen=True)
class TaskDropped:
    """The task was closed: it is no longer one of the account's open tasks."""

    task_id: str


@dataclass(frozen=True)
class TaskHanded:
    """The task is now with ``team`` (for its group and its accounts' indexes)."""

    task_id: str
    team: str


@dataclass(frozen=True)
class TaskClosed:
    """The group's task was resolved or rejected at ``at``."""

    task_id: str
    state: str
    at: datetime


AccountChange = TaskIndexed | TaskDropped | TaskHanded
GroupChange = TaskClosed | TaskHanded


def index_task(index: AccountIndex | None, account: str, change: AccountChange) -> AccountIndex:
    """The account's index after ``change`` (an empty index when there was none)."""
    current = index if index is not None else AccountIndex()
    if isinstance(change, TaskIndexed):
        return current.add(change.task_id, account, change.team, change.state)
    if isinstance(change, TaskDropped):
        return current.close(change.task_id)
    return current.reassign(change.task_id, change.team)


def change_group(task: GroupedTask | None, change: GroupChange) -> GroupedTask | None:
    """The group's task after ``change``; None when it does not apply to the task the group has
    (that task is closed already, or the group has a newer one)."""
    if task is None or task.task_id != change.task_id or not task.is_open:
        return None
    if isinstance(change, TaskHanded):
        return task.reassign(change.team)
    return task.close("rejected" if change.state == "rejected" else "resolved", change.at)


def related(index: AccountIndex, account: str, limit: int) -> tuple[RelatedTask, ...]:
    """The account's open tasks, the ``limit`` most recent (oldest first)."""
    return index.related(account)[-limit:]
