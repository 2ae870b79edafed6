"""The active tasks' deadlines, kept per database and patched by the tasks changed since.

The figures count the active tasks past a deadline (missed already, not yet in the
rollups) and the SLA standing splits them by how near their deadline is. At a million
tasks (about 71,000 active) each was a scan of them, 15-23 ms and 13-15 ms, at every
version of the rollups: after every task change. Here the active tasks are read once per
database (and epoch); at a later version only the tasks changed after the kept one
(``tasks.changed_in``, migration 0015) are read again, and the counts against ``now`` are
bisections of sorted deadlines per key. A window without an end (the overview's 7 days
hold most active tasks) keeps its own sorted deadlines, patched with the rest; the
instant until which the counts hold (the next deadline) is read from them too.

The version is read before the tasks: a task committed in between is read again at the
next version and replaces what was kept of it. Counting is done under the lock that
patches, so a reader never sees half a patch. More than ``MAX_ACTIVE`` active tasks are
not kept, nor those of a database never written through the rollups (no version): the
callers scan them, as before.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import sqlalchemy as sa

from services.api.models import TASKS
from services.api.models.rollups import active
from services.api.rollup_reads import Window
from services.api.rollups import stamp
from services.api.tally import ROUTER, TEAM
from services.core.departments import asking_department

Pair = tuple[str, str, str]  # asking department, team, answered_by: the figures' key
Standing = dict[tuple[str, str], int]  # (team, ok / at_risk / breached) -> active tasks
MAX_ACTIVE: Final = 500_000  # more active tasks than this are not kept in memory
MAX_PATCH: Final = 20_000  # more tasks changed than this since the version kept: read whole
MAX_WINDOWS: Final = 8  # windows (start, department) whose deadlines are kept apart
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
FOREVER: Final = datetime.max.replace(tzinfo=UTC)
_FIRST: Final = -(2**62)  # before any time: a window from the first task


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970 (exact, unlike a float timestamp)."""
    return (at - _EPOCH) // _MICROSECOND


class Due(NamedTuple):
    """What the counts read of one active task; times in :func:`micros`. Kept as a plain
    tuple (``ActiveTasks._tasks``): the garbage collector stops tracking one of only
    strings and numbers, and its full collections then walk 71,000 objects fewer."""

    key: Pair
    department: str | None  # as stored: a window's department filter reads it
    raised_at: int
    sla_due: int
    acknowledge_due: int | None  # ``sla_due`` while not acknowledged
    resolve_due: int  # past it (and ``sla_due``): not resolved in time


@dataclass
class Deadlines:
    """Some active tasks' deadlines, sorted per key."""

    acknowledge: dict[Pair, list[int]] = field(default_factory=lambda: defaultdict(list))
    resolve: dict[Pair, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, due: Due) -> None:
        if due.acknowledge_due is not None:
            insort(self.acknowledge[due.key], due.acknowledge_due)
        insort(self.resolve[due.key], due.resolve_due)

    def remove(self, due: Due) -> None:
        if due.acknowledge_due is not None:
            _remove(self.acknowledge[due.key], due.acknowledge_due)
        _remove(self.resolve[due.key], due.resolve_due)

    def sort(self) -> Deadlines:
        for lists in (self.acknowledge, self.resolve):
            for values in lists.values():
                values.sort()
        return self

    def overdue(self, at: int, team: str | None) -> dict[Pair, tuple[int, int]]:
        """Per key: how many are past their deadline at ``at`` (not acknowledged, resolved)."""
        return {
            key: (bisect_right(self.acknowledge.get(key, ()), at), bisect_right(dues, at))
            for key, dues in self.resolve.items()
            if team is None or key[1] == team
        }


Since = tuple[int, str | None]  # a window without an end: its start, its department filter


@dataclass
class ActiveTasks:
    """The active tasks' deadlines, sorted per key and per team (no database here), and
    those of the tasks raised since a window's start for the last few windows asked for
    (the overview's start moves on once an hour; its counts are then bisections alone)."""

    _tasks: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # plain ``Due``s
    _all: Deadlines = field(default_factory=Deadlines)
    _since: dict[Since, Deadlines] = field(default_factory=dict)
    _sla: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _raised: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._tasks)

    @classmethod
    def of(cls, tasks: Iterable[tuple[str, Due]]) -> ActiveTasks:
        """Built at once (a sort per list, not an insertion per task)."""
        built = cls()
        for task_id, due in tasks:
            built._tasks[task_id] = tuple(due)
            if due.acknowledge_due is not None:
                built._all.acknowledge[due.key].append(due.acknowledge_due)
            built._all.resolve[due.key].append(due.resolve_due)
            built._sla[due.key[1]].append(due.sla_due)
            built._raised.append((due.raised_at, task_id))
        built._all.sort()
        for values in built._sla.values():
            values.sort()
        built._raised.sort()
        return built

    def put(self, task_id: str, due: Due | None) -> None:
        """The task as it is now: ``None`` when it is not active (or not there)."""
        was = self._due(self._tasks.pop(task_id, None))
        if was is not None:
            for deadlines in self._holding(was):
                deadlines.remove(was)
            _remove(self._sla[was.key[1]], was.sla_due)
            del self._raised[bisect_left(self._raised, (was.raised_at, task_id))]
        if due is not None:
            self._tasks[task_id] = tuple(due)
            for deadlines in self._holding(due):
                deadlines.add(due)
            insort(self._sla[due.key[1]], due.sla_due)
            insort(self._raised, (due.raised_at, task_id))

    @staticmethod
    def _due(kept: tuple[Any, ...] | None) -> Due | None:
        return None if kept is None else Due._make(kept)

    def _holding(self, due: Due) -> list[Deadlines]:
        """Where ``due`` is counted: among all, and in every kept window it was raised in."""
        return [self._all] + [
            deadlines
            for (since, department), deadlines in self._since.items()
            if since <= due.raised_at and department in (None, due.department)
        ]

    def overdue(self, now: datetime, window: Window) -> dict[Pair, tuple[int, int]]:
        """Active tasks raised in ``window`` past their deadline per key: (not acknowledged,
        not resolved), keys with none left out (``deadlines.overdue``'s scan, counted)."""
        at = micros(now)
        if window.until is None:
            return _nonzero(self._since_start(window).overdue(at, window.team))
        lo = 0 if window.since is None else bisect_left(self._raised, (micros(window.since),))
        hi = bisect_left(self._raised, (micros(window.until),))
        return _nonzero(self._count(self._raised[lo:hi], at, window))

    def _since_start(self, window: Window) -> Deadlines:
        """The deadlines of the tasks raised since the window's start: kept from the first
        time it is asked for until ``MAX_WINDOWS`` others were asked for since."""
        if window.since is None and window.department is None:
            return self._all
        since = _FIRST if window.since is None else micros(window.since)
        key = (since, window.department)
        found = self._since.pop(key, None) or self._raised_since(since, window.department)
        if len(self._since) >= MAX_WINDOWS:
            del self._since[next(iter(self._since))]
        self._since[key] = found  # put last: the least recently asked for goes first
        return found

    def _raised_since(self, since: int, department: str | None) -> Deadlines:
        found = Deadlines()
        for _, task_id in self._raised[bisect_left(self._raised, (since,)) :]:
            due = Due._make(self._tasks[task_id])
            if department in (None, due.department):
                if due.acknowledge_due is not None:
                    found.acknowledge[due.key].append(due.acknowledge_due)
                found.resolve[due.key].append(due.resolve_due)
        return found.sort()

    def standing(self, now: datetime, at_risk: timedelta) -> Standing:
        """Active tasks per team: ``sla_due`` passed (breached), within ``at_risk`` (at_risk),
        or later (ok); none left out (``deadlines.standing``'s scan, counted)."""
        at, risk = micros(now), micros(now + at_risk)
        found: Standing = {}
        for team, dues in self._sla.items():
            breached = bisect_left(dues, at)
            at_risk_n = bisect_left(dues, risk) - breached
            for line, n in (("breached", breached), ("at_risk", at_risk_n)):
                if n:
                    found[(team, line)] = n
            if ok := len(dues) - breached - at_risk_n:
                found[(team, "ok")] = ok
        return found

    def holds_until(self, now: datetime, at_risk: timedelta | None) -> datetime:
        """When a count read at ``now`` next moves: a resolve deadline or an SLA deadline
        passed (``overdue``), or, with ``at_risk``, an SLA deadline reached or coming within
        ``at_risk`` (``standing``): ``deadlines.holds_until``'s queries, from the kept."""
        at = micros(now)
        found = [_after(dues, at, bisect_right) for dues in self._all.resolve.values()]
        for dues in self._sla.values():
            if at_risk is None:
                found.append(_after(dues, at, bisect_right))
            else:
                risk = micros(now + at_risk)
                found += [_after(dues, at, bisect_left), _after(dues, risk, bisect_left, risk - at)]
        first = min((t for t in found if t is not None), default=None)
        return FOREVER if first is None else _EPOCH + first * _MICROSECOND

    def _count(
        self, tasks: list[tuple[int, str]], at: int, window: Window
    ) -> dict[Pair, tuple[int, int]]:
        into: dict[Pair, tuple[int, int]] = {}
        for _, task_id in tasks:
            due = Due._make(self._tasks[task_id])
            if window.team is not None and due.key[1] != window.team:
                continue
            if window.department is not None and due.department != window.department:
                continue
            late = due.acknowledge_due is not None and due.acknowledge_due <= at
            unresolved = due.resolve_due <= at
            if late or unresolved:
                was = into.get(due.key, (0, 0))
                into[due.key] = (was[0] + late, was[1] + unresolved)
        return into


def _after(
    values: list[int], at: int, bisect: Callable[[list[int], int], int], shift: int = 0
) -> int | None:
    """The first of sorted ``values`` after ``at`` (by ``bisect``), less ``shift``."""
    i = bisect(values, at)
    return values[i] - shift if i < len(values) else None


def _remove(values: list[int], value: int) -> None:
    del values[bisect_left(values, value)]


def _nonzero(counts: dict[Pair, tuple[int, int]]) -> dict[Pair, tuple[int, int]]:
    return {key: value for key, value in counts.items() if value != (0, 0)}


# --- kept per database ----------------------------------------------------------------------

_t = TASKS.c
_COLUMNS: Final = (
    _t.task_id, _t.department, _t.source, _t.team, _t.answered_by, _t.raised_at,
    _t.acknowledged_at, _t.sla_due, _t.resolve_by,
)  # fmt: skip
_IS_ACTIVE: Final = sa.case((active(), True), else_=False).label("is_active")


@dataclass
class _Kept:
    version: int
    epoch: str | None
    tasks: ActiveTasks


_kept: dict[str, _Kept] = {}
_too_many: dict[str, tuple[str | None, int]] = {}  # epoch and version too many were active at
RECHECK: Final = 10_000  # versions (task changes) before the active tasks are counted again
_lock = threading.Lock()
stats = {"full": 0, "patched": 0, "kept": 0, "scanned": 0}  # how reads were served
switched = {"on": True}  # off: every read scans (the bench's cold reads)


Overdue = dict[Pair, tuple[int, int]]  # per key: (not acknowledged, not resolved) in time


def overdue(conn: sa.Connection, now: datetime, window: Window) -> Overdue | None:
    """The active tasks past a deadline per key at the rollups' version now (None: too many
    active tasks to keep; scan them)."""
    with _lock:
        kept = _current(conn)
        return None if kept is None else kept.overdue(now, window)


def standing(conn: sa.Connection, now: datetime, at_risk: timedelta) -> Standing | None:
    """The SLA standing per team at the rollups' version now (None: scan, as ``overdue``)."""
    with _lock:
        kept = _current(conn)
        return None if kept is None else kept.standing(now, at_risk)


def holds_until(conn: sa.Connection, now: datetime, at_risk: timedelta | None) -> datetime | None:
    """Until when counts read at ``now`` hold at the rollups' version now (None: scan)."""
    with _lock:
        kept = _current(conn)
        return None if kept is None else kept.holds_until(now, at_risk)


def _current(conn: sa.Connection) -> ActiveTasks | None:
    if not switched["on"]:
        return None
    version, epoch = stamp(conn)
    if epoch is None:  # never written through the rollups: no version to keep by
        return None
    url = str(conn.engine.url)
    kept = _kept.get(url)
    if kept is not None and kept.epoch == epoch and kept.version >= version:
        stats["kept"] += 1
        return kept.tasks
    if kept is not None and kept.epoch == epoch:
        since = sa.select(*_COLUMNS, _IS_ACTIVE).where(_t.changed_in > kept.version)
        changed = conn.execute(since.limit(MAX_PATCH + 1)).all()
        if len(changed) <= MAX_PATCH:
            for row in changed:
                kept.tasks.put(row.task_id, _due(row) if row.is_active else None)
            kept.version = version
            stats["patched"] += 1
            if len(kept.tasks) <= MAX_ACTIVE:
                return kept.tasks
    marked = _too_many.get(url)
    if marked is not None and marked[0] == epoch and version < marked[1] + RECHECK:
        stats["scanned"] += 1
        return None
    rows = conn.execute(sa.select(*_COLUMNS).where(active()).limit(MAX_ACTIVE + 1)).all()
    if len(rows) > MAX_ACTIVE:
        stats["scanned"] += 1
        _kept.pop(url, None)
        _too_many[url] = (epoch, version)
        return None
    stats["full"] += 1
    tasks = ActiveTasks.of((row.task_id, _due(row)) for row in rows)
    _kept[url] = _Kept(version, epoch, tasks)
    return tasks


def _due(row: Any) -> Due:
    sla_due = micros(row.sla_due)
    unknown = row.department is None or row.department == ""
    department = asking_department(row.source) if unknown else row.department
    resolve_by = sla_due if row.resolve_by is None else micros(row.resolve_by)
    return Due(
        key=(department, row.team, ROUTER if row.answered_by == ROUTER else TEAM),
        department=row.department,
        raised_at=micros(row.raised_at),
        sla_due=sla_due,
        acknowledge_due=sla_due if row.acknowledged_at is None else None,
        resolve_due=max(sla_due, resolve_by),
    )


def forget() -> None:
    """Keep nothing (tests; the bench's cold reads)."""
    with _lock:
        _kept.clear()
        _too_many.clear()
