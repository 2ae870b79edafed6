"""Figure rollups: kept with the task rows, read by the stats routes and the dashboard.

Which function gives what (all take a SQLAlchemy connection; typed results):
- ``services.api.figures.feedback_latency(conn, team=, since=)`` -> ``FeedbackLatency``:
  per asker (request), human answers as the headline, per team, router apart, per task.
- ``services.api.figures.figures(conn, now=, since=, until=, team=, department=)`` ->
  ``list[Figures]`` per asking department x team x answered_by (latencies, SLA shares).
- ``services.api.figures.who_waits(conn, since=, until=)`` -> ``list[Waiting]``.
- ``services.api.rollup_reads.read_rollups(conn, measures, Window(...))`` -> ``Sums`` per key.
- Here: ``tallied(conn, task_ids, write)`` runs a write and adds what it changed (or
  ``locked_snapshot`` before, ``retally`` after); ``rebuild(conn)`` recomputes them all from the
  task rows (``handoff stats rebuild``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from services.api.models import DELIVERIES, ORIGINS, ROLLUPS, TASKS
from services.api.models.rollups import ALL, ALL_TIME
from services.api.tally import (
    ROUTER,
    TEAM,
    Delta,
    OriginFacts,
    RollupKey,
    TaskFacts,
    bucket_of,
    diff,
    hour_of,
    increments,
    rollup_deltas,
)
from services.core.departments import asking_department
from services.core.stats import LatencySummary, summarize_bins

T = TypeVar("T")
KEY_COLUMNS: Final = ("grain", "bucket", "measure", "department", "team", "answered_by")
TASK_COLUMNS: Final = (
    "task_id", "source", "department", "team", "answered_by", "state", "raised_at", "routed_at",
    "acknowledged_at", "resolved_at", "sla_due", "resolve_by",
)  # fmt: skip
VERSION: Final[RollupKey] = ("version", ALL_TIME, "version", "", "", "")
REBUILD_CHUNK: Final = 10_000
NO_STATS: Final = LatencySummary(0, None, None, None, None)
KEYS_PER_STATEMENT: Final = 1000  # 6 parameters each: far below the drivers' 65,535


# --- the task rows as facts ----------------------------------------------------------------


def snapshot(conn: sa.Connection, task_ids: Sequence[str]) -> list[TaskFacts]:
    """What the figures read of these tasks now (absent ones are left out)."""
    if not task_ids:
        return []
    columns = [TASKS.c[name] for name in TASK_COLUMNS]
    rows = conn.execute(sa.select(*columns).where(among(conn, TASKS.c.task_id, task_ids))).all()
    origins = _origins(conn, task_ids)
    delivered = _delivered(conn, task_ids)
    return [_facts(row._mapping, origins, delivered) for row in rows]


def among(
    conn: sa.Connection, column: sa.ColumnElement[str], ids: Sequence[str]
) -> sa.ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter (``= ANY``), not thousands: a
    figure's partial hour reads a few thousand tasks, and each parameter costs the driver."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.Text)))
    return column.in_(ids)


def _origins(conn: sa.Connection, task_ids: Sequence[str]) -> dict[str, list[Any]]:
    query = sa.select(ORIGINS.c.task_id, ORIGINS.c.event_id, ORIGINS.c.source, ORIGINS.c.raised_at)
    out: dict[str, list[Any]] = {}
    for row in conn.execute(query.where(among(conn, ORIGINS.c.task_id, task_ids))):
        out.setdefault(row.task_id, []).append(row)
    return out


def _delivered(conn: sa.Connection, task_ids: Sequence[str]) -> dict[str, list[Any]]:
    """The answers delivered (2xx) to each task's requests: origin, created, delivered."""
    d = DELIVERIES.c
    query = sa.select(d.task_id, d.origin_event_id, d.created_at, d.delivered_at).where(
        among(conn, d.task_id, task_ids), d.state == "delivered", d.task_state == "resolved"
    )
    out: dict[str, list[Any]] = {}
    for row in conn.execute(query):
        out.setdefault(row.task_id, []).append(row)
    return out


def _facts(task: Any, origins: dict[str, list[Any]], delivered: dict[str, list[Any]]) -> TaskFacts:
    resolved_at = task["resolved_at"]
    answers = [r for r in delivered.get(task["task_id"], []) if _of_answer(r, resolved_at)]
    rows = origins.get(task["task_id"]) or []
    facts = [_origin(r.event_id, r.source, r.raised_at, answers, resolved_at) for r in rows]
    if not facts:  # an older router recorded no origins: the task's own request
        facts = [_origin(None, task["source"], task["raised_at"], answers, resolved_at)]
    first = min((r.delivered_at for r in answers), default=None)
    return task_facts(task, tuple(facts), answered_at=first or resolved_at)


def task_facts(
    task: Mapping[str, Any], origins: tuple[OriginFacts, ...], *, answered_at: Any
) -> TaskFacts:
    """What the figures read of one task row, with its requests' facts."""
    return TaskFacts(
        task_id=task["task_id"],
        department=task["department"] or asking_department(task["source"]),
        team=task["team"],
        answered_by=ROUTER if task["answered_by"] == ROUTER else TEAM,
        state=task["state"],
        raised_at=task["raised_at"],
        routed_at=task["routed_at"],
        acknowledged_at=task["acknowledged_at"],
        resolved_at=task["resolved_at"],
        answered_at=answered_at,
        sla_due=task["sla_due"],
        resolve_by=task["resolve_by"],
        origins=origins,
    )


def _of_answer(delivery: Any, resolved_at: Any) -> bool:
    """A delivery of the task's current answer (not of one before a reopen)."""
    return resolved_at is not None and delivery.created_at >= resolved_at


def _origin(
    event_id: str | None, source: str, raised_at: Any, answers: list[Any], resolved: Any
) -> OriginFacts:
    times = [a.delivered_at for a in answers if event_id is None or a.origin_event_id == event_id]
    return OriginFacts(source, raised_at, min(times, default=resolved))


# --- writing --------------------------------------------------------------------------------


def tallied(conn: sa.Connection, task_ids: Sequence[str], write: Callable[[], T]) -> T:
    """Run ``write`` (in ``conn``'s transaction) and add to the rollups what it changed."""
    before = locked_snapshot(conn, task_ids)
    result = write()
    retally(conn, task_ids, before)
    return result


def locked_snapshot(conn: sa.Connection, task_ids: Sequence[str]) -> list[TaskFacts]:
    """The tasks as they are, locked until ``conn``'s transaction ends: the "before" of a change.

    Without the lock another writer could change a task between this read and
    the write, and its change would be tallied twice (once by it, once in our
    "after minus before"): a resolve racing a priority update left -1 open.
    """
    lock(conn, task_ids)
    return snapshot(conn, task_ids)


def lock(conn: sa.Connection, task_ids: Sequence[str]) -> None:
    """Hold the tasks' rows (PostgreSQL: FOR UPDATE) or the database's write lock (SQLite,
    whose driver would otherwise read outside any transaction until the first write)."""
    if not task_ids:
        return
    of_ids = TASKS.c.task_id.in_(task_ids)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(TASKS.c.task_id).where(of_ids).with_for_update())
    else:  # a write that changes nothing: BEGIN, and the lock, come before the read
        conn.execute(sa.update(TASKS).where(of_ids).values(version=TASKS.c.version))


def retally(conn: sa.Connection, task_ids: Sequence[str], before: list[TaskFacts]) -> None:
    """Add to the rollups what changed since ``before`` (a :func:`snapshot` in this transaction).

    A change no rollup row counts (an open task's deadline moved) still moves the version
    on: the figures and SLA standing read before it count that task past or before its
    old deadline, and are kept per version. The tasks whose facts changed say in which
    version (``changed_in``): readers keeping the active tasks' deadlines re-read them."""
    after = snapshot(conn, task_ids)
    was, now = ({task.task_id: task for task in facts} for facts in (before, after))
    changed = sorted(
        task_id for task_id in was.keys() | now.keys() if was.get(task_id) != now.get(task_id)
    )
    if not changed:
        return
    deltas = diff(before, after)
    version = apply(conn, deltas) if deltas else _next_version(conn)
    marked = sa.update(TASKS).where(among(conn, TASKS.c.task_id, changed))
    conn.execute(marked.values(changed_in=version))


def apply(conn: sa.Connection, deltas: dict[RollupKey, Delta]) -> int:
    """Add ``deltas`` to the rollup rows, creating them as needed; the version row locked
    first, then the rows in key order (every writer: one order).

    Any change moves the rollups' version on, so a reader's cache knows it is stale, and
    marks the rows it changed with it, so a reader's kept sums re-read only their keys.
    """
    if not deltas:
        return version(conn)
    changed_in = _next_version(conn)
    keys = sorted(deltas)
    for start in range(0, len(keys), KEYS_PER_STATEMENT):
        _apply_keys(conn, keys[start : start + KEYS_PER_STATEMENT], deltas, changed_in)
    return changed_in


def _next_version(conn: sa.Connection) -> int:
    """Move the version on (its row created with a new epoch the first time); the new one."""
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    first = {**dict(zip(KEY_COLUMNS, VERSION, strict=True)), "n": 0, "bins": new_epoch()}
    conn.execute(insert(ROLLUPS).values(first).on_conflict_do_nothing())
    moved = sa.update(ROLLUPS).where(_IS_VERSION).values(n=ROLLUPS.c.n + 1)
    return int(conn.execute(moved.returning(ROLLUPS.c.n)).scalar_one())


def new_epoch() -> str:
    """A new database's, or a rebuild's: sums kept for another epoch are read again."""
    return secrets.token_hex(8)


def _apply_keys(
    conn: sa.Connection,
    keys: Sequence[RollupKey],
    deltas: dict[RollupKey, Delta],
    changed_in: int,
) -> None:
    _insert_missing(conn, keys)
    query = sa.select(ROLLUPS).where(_KEY_TUPLE.in_(keys)).order_by(*ROLLUPS.primary_key.columns)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    updates = []
    for row in conn.execute(query):
        key: RollupKey = (
            row.grain,
            row.bucket,
            row.measure,
            row.department,
            row.team,
            row.answered_by,
        )
        merged = Delta(row.n, decode_bins(row.bins))
        merged.merge(deltas[key])
        updates.append({**_update_params(key, merged), "new_changed_in": changed_in})
    conn.execute(_UPDATE, updates)


def _insert_missing(conn: sa.Connection, keys: Sequence[RollupKey]) -> None:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [dict(zip(KEY_COLUMNS, key, strict=True)) for key in keys]
    conn.execute(insert(ROLLUPS).values(n=0).on_conflict_do_nothing(), rows)


def _stats(key: RollupKey, delta: Delta) -> LatencySummary:
    """The percentiles kept with an all-time row (hours are read by their bins, in windows)."""
    return summarize_bins(delta.bins) if key[0] == ALL else NO_STATS


def _update_params(key: RollupKey, delta: Delta) -> dict[str, Any]:
    stats = _stats(key, delta)
    params = {f"k_{name}": value for name, value in zip(KEY_COLUMNS, key, strict=True)}
    return {
        **params, "new_n": delta.n, "new_bins": encode_bins(delta), "new_p50": stats.p50,
        "new_p90": stats.p90, "new_p99": stats.p99, "new_max": stats.max,
    }  # fmt: skip


_KEY_TUPLE: Final = sa.tuple_(*(ROLLUPS.c[name] for name in KEY_COLUMNS))
_UPDATE: Final = (
    sa.update(ROLLUPS)
    .where(*(ROLLUPS.c[name] == sa.bindparam(f"k_{name}") for name in KEY_COLUMNS))
    .values(
        {
            name: sa.bindparam(f"new_{name}")
            for name in ("n", "bins", "p50", "p90", "p99", "max", "changed_in")
        }
    )
)


def encode_bins(delta: Delta) -> str | None:
    """A row's bins as a flat JSON list ``[bin, count, sum, bin, count, sum, ...]``, by bin:
    a list of numbers decodes five times faster than the ``{"bin": [count, sum]}`` object
    rows held before migration 0013 (still read: ``decode_bins`` takes both)."""
    if not delta.bins:
        return None
    flat = [x for i, (c, t) in sorted(delta.bins.items()) for x in (i, c, round(t, 6))]
    return json.dumps(flat, separators=(",", ":"))


def decode_bins(text: str | None) -> dict[int, tuple[int, float]]:
    found: dict[int, tuple[int, float]] = {}
    add_encoded(found, text)
    return found


def triples(text: str | None) -> Iterator[tuple[int, int, float]]:
    """A row's bins, (bin, count, sum) by bin, in either encoding."""
    if not text:
        return iter(())
    found = json.loads(text)
    if isinstance(found, dict):  # written before migration 0013
        return ((int(i), int(c), float(t)) for i, (c, t) in found.items())
    flat = iter(found)
    return zip(flat, flat, flat, strict=True)


def add_encoded(into: dict[int, tuple[int, float]], text: str | None) -> None:
    """Add a row's bins to ``into`` as they are decoded (a window's read adds thousands of
    rows: this is its inner loop). Unlike ``merge_bins`` an emptied bin may stay, at zero:
    stored rows count nothing negative, and a summary reads only the bins that count."""
    get = into.get
    for key, count, total in triples(text):
        old = get(key)
        into[key] = (old[0] + count, old[1] + total) if old else (count, float(total))


# --- rebuilding -----------------------------------------------------------------------------


def rebuild(conn: sa.Connection, chunk: int = REBUILD_CHUNK) -> int:
    """Recompute every rollup from the task rows (in ``conn``'s transaction); tasks read.

    Tasks are read in the order of their raise; a task adds nothing before it was
    raised, so an hour (or a day) before the next chunk's first raise is final: it
    is inserted then, never read back. The all-time rows are written last.
    """
    was = version(conn)
    conn.execute(ROLLUPS.delete())
    ordered = sa.select(TASKS.c.task_id, TASKS.c.raised_at).order_by(TASKS.c.raised_at)
    tasks = conn.execute(ordered).all()
    pending: dict[RollupKey, Delta] = {}
    for start in range(0, len(tasks), chunk):
        ids = [task_id for task_id, _ in tasks[start : start + chunk]]
        for key, delta in _deltas(snapshot(conn, ids)).items():
            pending.setdefault(key, Delta()).merge(delta)
        if start + chunk < len(tasks):
            _insert_final(conn, pending, _before(hour_of(tasks[start + chunk][1])))
    _insert_final(conn, pending, lambda key: True)
    # never a version seen before: the next one, or for a new database a random start (a
    # reader's cache is per database URL, and a URL may name a new database after a drop)
    moved_on = Delta(was + 1 if was else secrets.randbits(30))
    conn.execute(ROLLUPS.insert(), {**_row(VERSION, moved_on), "bins": new_epoch()})
    return len(tasks)


def version(conn: sa.Connection) -> int:
    """The rollups' version: it moves on with every change of them."""
    return stamp(conn)[0]


def stamp(conn: sa.Connection) -> tuple[int, str | None]:
    """The rollups' version and epoch (read before every cached figure: one statement)."""
    row = conn.execute(_STAMP_QUERY).first()
    return (0, None) if row is None else (int(row.n), row.bins)


_IS_VERSION: Final = sa.and_(
    *(ROLLUPS.c[name] == value for name, value in zip(KEY_COLUMNS, VERSION, strict=True))
)
_STAMP_QUERY: Final = sa.select(ROLLUPS.c.n, ROLLUPS.c.bins).where(_IS_VERSION)


def _before(frontier: datetime) -> Callable[[RollupKey], bool]:
    """Whether a rollup row is an hour (or a day) that ends at or before ``frontier``."""
    return lambda key: key[0] != ALL and key[1] < bucket_of(key[0], frontier)


def _insert_final(
    conn: sa.Connection, pending: dict[RollupKey, Delta], final: Callable[[RollupKey], bool]
) -> None:
    """Insert the rows no later task can change, and forget them."""
    keys = sorted(key for key, delta in pending.items() if final(key))
    rows = [_row(key, pending.pop(key)) for key in keys]
    rows = [row for row in rows if row["n"] or row["bins"]]
    if rows:
        conn.execute(ROLLUPS.insert(), rows)


def _row(key: RollupKey, delta: Delta) -> dict[str, Any]:
    stats = _stats(key, delta)
    return {
        **dict(zip(KEY_COLUMNS, key, strict=True)), "n": delta.n, "bins": encode_bins(delta),
        "p50": stats.p50, "p90": stats.p90, "p99": stats.p99, "max": stats.max,
    }  # fmt: skip


def _deltas(tasks: Iterable[TaskFacts]) -> dict[RollupKey, Delta]:
    out: dict[RollupKey, Delta] = {}
    for task in tasks:
        rollup_deltas(increments(task), 1, out)
    return out
